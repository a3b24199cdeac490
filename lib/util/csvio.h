/* csvio: CSV files (RFC 4180: commas, double-quoted fields holding commas, line breaks and
 * doubled quotes) read one record at a time through libcsv, plain or gzip (zlib reads a plain file
 * as it is).
 *
 * Contract: gc_csv_each calls fn for each record in file order with its fields (NUL-terminated,
 * owned by the reader and valid during the call only), their count and the line the record starts
 * on (the header is a record like any other); it stops at fn's first error. A malformed file (a
 * quote that does not close, a stray quote inside an unquoted field), a gzip cut short or a
 * damaged one is GC_ERR_FORMAT or GC_ERR_IO naming the file and the line. Blank lines are no
 * records. Spaces around unquoted fields are kept.
 */
#ifndef GC_CSVIO_H
#define GC_CSVIO_H

#include "base.h"

typedef gc_status (*gc_csv_fn)(char *const *fields, int n, int line, void *ctx);

gc_status gc_csv_each(const char *path, gc_csv_fn fn, void *ctx);

#endif
