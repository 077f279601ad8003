#include <sqlite3.h>

// sqlite3_config is variadic, which Swift cannot call: one fixed-argument wrapper per setting.

/// Turns off SQLite's memory statistics (a global mutex taken on every allocation). Only has an
/// effect before the library is initialised (the first connection).
static inline int eod_sqlite3_disable_memstatus(void) {
  return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}
