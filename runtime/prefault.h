/* Memory a start is about to touch, made present in one system call.
 *
 * A page fault is a trap into the kernel per page.  Where the kernel runs
 * paravirtualised (a PVM guest, such as the CI machine) a trap costs about
 * 10 us, and a warm start took some 290 of them, 60 of them nsbox's heap
 * and stack growing page by page.  madvise(MADV_POPULATE_WRITE) (Linux
 * 5.14) maps the same pages for a small part of that, and costs little on
 * bare metal.  Both are hints: they do nothing on an older kernel. */
#ifndef RT_PREFAULT_H
#define RT_PREFAULT_H

#include <stddef.h>

/* Make malloc's heap BYTES at once and populate it.  Call it before the
 * process's first allocation; later growth comes BYTES at a time too. */
void rt_prefault_heap (size_t bytes);
/* Populate the BYTES of this thread's stack below the caller's frame. */
void rt_prefault_stack (size_t bytes);

#endif
