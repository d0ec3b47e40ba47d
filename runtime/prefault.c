#define _GNU_SOURCE
#include "runtime/prefault.h"

#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

static void
populate_write (uintptr_t start, uintptr_t end)
{
  const uintptr_t page = 4096;

  start &= ~(page - 1);
  end = (end + page - 1) & ~(page - 1);
  if (end > start)
    madvise ((void *) start, end - start, MADV_POPULATE_WRITE);
}

void
rt_prefault_heap (size_t bytes)
{
  void *p;

  /* M_TOP_PAD: what each growth of the heap adds beyond the request, and
   * what a trim leaves. */
  mallopt (M_TOP_PAD, (int) bytes);
  p = malloc (1);
  if (p == NULL)
    return;
  populate_write ((uintptr_t) p, (uintptr_t) sbrk (0));
  free (p);
}

void
rt_prefault_stack (size_t bytes)
{
  uintptr_t sp = (uintptr_t) __builtin_frame_address (0);

  /* Below the frame only: exec gave the stack 128 KiB to grow into. */
  populate_write (sp - bytes, sp);
}
