-- cart_put.lua: sets a product's quantity in a user's cart, refusing a new product once the cart holds
-- the most one order may (so a cart can always be ordered as a whole).
--
-- KEYS[1]  the cart hash "{uNN}:cart:<userId>" (productId → quantity)
-- ARGV[1]  productId   ARGV[2]  quantity (1..100, checked by the caller)
-- ARGV[3]  most products in a cart   ARGV[4]  seconds the cart is kept after this change
--
-- Returns 1 when set, 0 when the cart is full and the product is not in it (nothing changes).
if redis.call("HEXISTS", KEYS[1], ARGV[1]) == 0 and redis.call("HLEN", KEYS[1]) >= tonumber(ARGV[3]) then
  return 0
end
redis.call("HSET", KEYS[1], ARGV[1], ARGV[2])
redis.call("EXPIRE", KEYS[1], tonumber(ARGV[4]))
return 1
