// hiredis 0.14.1 (Debian 12). Included without pkg-config: Debian's .pc adds a flag SwiftPM rejects.
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
