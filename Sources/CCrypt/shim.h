// libxcrypt (Debian's libcrypt1): crypt_r and crypt_gensalt_rn for yescrypt password hashes.
#include <crypt.h>
#include <stdlib.h>
#include <string.h>

// crypt_r needs a ~32 KiB struct crypt_data; allocate it zeroed on the heap rather than the stack.
static inline struct crypt_data *floodgate_crypt_data_new(void) {
    return (struct crypt_data *)calloc(1, sizeof(struct crypt_data));
}
