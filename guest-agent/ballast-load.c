/* ballast-load.c: workload generator for the test guest. Touches, holds or
 * reads memory in a named pattern and prints machine-readable progress lines
 * ("BLOAD t_ms=... key=value ...") on stdout (the guest console). */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "ballast-load.h"

#define PAGE_BYTES 4096
/* A touched set is re-touched at least this often (a pass that takes longer
 * is followed by the next at once). */
#define TOUCH_PERIOD_MS 250
/* Progress lines at most this often, so the console does not slow the guest. */
#define PROGRESS_MS 1000
#define CACHE_CHUNK_BYTES (1 << 20)
#define DEFAULT_DISK "/dev/vda"

uint64_t
now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_BOOTTIME, &ts);
  return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

void
sleep_ms (uint64_t ms)
{
  struct timespec ts = { .tv_sec = (time_t) (ms / 1000), .tv_nsec = (long) (ms % 1000) * 1000000 };
  while (nanosleep (&ts, &ts) != 0 && errno == EINTR)
    ;
}

void
progress (const char *fmt, ...)
{
  va_list ap;
  printf ("BLOAD t_ms=%" PRIu64 " ", now_ms ());
  va_start (ap, fmt);
  vprintf (fmt, ap);
  va_end (ap);
  putchar ('\n');
  fflush (stdout);
}

/* "200M", "1G", "4096", "64K" -> bytes (binary units). */
static bool
parse_size (const char *s, uint64_t *out)
{
  char *end;
  errno = 0;
  unsigned long long v = strtoull (s, &end, 10);
  if (end == s || errno)
    return false;
  uint64_t mul = 1;
  switch (*end)
    {
      case 'k':
      case 'K':
        mul = 1ULL << 10;
        end++;
        break;
      case 'm':
      case 'M':
        mul = 1ULL << 20;
        end++;
        break;
      case 'g':
      case 'G':
        mul = 1ULL << 30;
        end++;
        break;
      default:
        break;
    }
  if (*end || v > UINT64_MAX / mul)
    return false;
  *out = v * mul;
  return true;
}

/* Seconds, possibly fractional -> ms. */
static bool
parse_secs (const char *s, uint64_t *out_ms)
{
  char *end;
  double v = strtod (s, &end);
  if (end == s || *end || !(v >= 0) || v > 1e7)
    return false;
  *out_ms = (uint64_t) (v * 1000);
  return true;
}

static uint8_t *
alloc_region (uint64_t bytes)
{
  void *p = mmap (NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED)
    {
      progress ("event=error what=mmap bytes=%" PRIu64 " errno=%d", bytes, errno);
      exit (1);
    }
  return p;
}

/* Writes one byte in every page: faults pages in on the first pass, sets
 * their accessed bit afterwards. */
static void
touch (uint8_t *p, uint64_t bytes, uint8_t v)
{
  for (uint64_t off = 0; off < bytes; off += PAGE_BYTES)
    p[off] = v;
}

/* Touches @bytes every TOUCH_PERIOD_MS for @dur_ms (forever if 0); with
 * @extra/@extra_bytes, the burst region is touched too. */
static void
touch_loop (const char *mode, uint8_t *p, uint64_t bytes, uint64_t dur_ms, uint64_t *pass)
{
  uint64_t start = now_ms (), last_print = 0;
  for (;;)
    {
      uint64_t t0 = now_ms ();
      if (dur_ms && t0 - start >= dur_ms)
        return;
      touch (p, bytes, (uint8_t) (*pass + 1));
      (*pass)++;
      uint64_t t1 = now_ms ();
      if (t1 - last_print >= PROGRESS_MS)
        {
          progress ("mode=%s event=pass pass=%" PRIu64 " bytes=%" PRIu64 " pass_ms=%" PRIu64, mode,
                    *pass, bytes, t1 - t0);
          last_print = t1;
        }
      if (t1 - t0 < TOUCH_PERIOD_MS)
        sleep_ms (TOUCH_PERIOD_MS - (t1 - t0));
    }
}

static void
idle_forever (const char *mode)
{
  for (;;)
    {
      sleep_ms (60000);
      progress ("mode=%s event=alive", mode);
    }
}

static int
run_steady (uint64_t bytes)
{
  uint8_t *p = alloc_region (bytes);
  uint64_t pass = 0;
  progress ("mode=steady event=start bytes=%" PRIu64, bytes);
  touch_loop ("steady", p, bytes, 0, &pass);
  return 0;
}

static int
run_hold (uint64_t bytes, uint64_t secs_ms)
{
  uint8_t *p = alloc_region (bytes);
  uint64_t pass = 0;
  progress ("mode=hold event=start bytes=%" PRIu64 " touch_ms=%" PRIu64, bytes, secs_ms);
  touch_loop ("hold", p, bytes, secs_ms, &pass);
  progress ("mode=hold event=touch-stop pass=%" PRIu64 " bytes=%" PRIu64, pass, bytes);
  idle_forever ("hold");
  return 0;
}

static int
run_bursty (uint64_t peak, uint64_t base, uint64_t period_ms, uint64_t burst_ms)
{
  if (base > peak || burst_ms > period_ms || period_ms == 0)
    {
      fprintf (stderr, "ballast-load: bursty wants BASE <= PEAK and BURST <= PERIOD > 0\n");
      return 2;
    }
  uint8_t *p = alloc_region (base ? base : PAGE_BYTES);
  uint64_t pass = 0, cycle = 0;
  progress ("mode=bursty event=start peak=%" PRIu64 " base=%" PRIu64, peak, base);
  for (;;)
    {
      uint64_t c0 = now_ms ();
      uint64_t extra_bytes = peak - base;
      uint8_t *extra = extra_bytes ? alloc_region (extra_bytes) : NULL;
      progress ("mode=bursty event=burst-start cycle=%" PRIu64 " bytes=%" PRIu64, cycle, peak);
      uint64_t b0 = now_ms ();
      /* The first pass over the new region is the allocation: the guest
       * finds (or waits for) the memory then, page by page. */
      if (extra)
        {
          touch (extra, extra_bytes, (uint8_t) (pass + 1));
          progress ("mode=bursty event=burst-alloc cycle=%" PRIu64 " bytes=%" PRIu64
                    " alloc_ms=%" PRIu64,
                    cycle, extra_bytes, now_ms () - b0);
        }
      while (now_ms () - b0 < burst_ms)
        {
          uint64_t t0 = now_ms ();
          touch (p, base, (uint8_t) (pass + 1));
          if (extra)
            touch (extra, extra_bytes, (uint8_t) (pass + 1));
          pass++;
          uint64_t t1 = now_ms ();
          if (t1 - t0 < TOUCH_PERIOD_MS)
            sleep_ms (TOUCH_PERIOD_MS - (t1 - t0));
        }
      if (extra)
        munmap (extra, extra_bytes);
      progress ("mode=bursty event=burst-end cycle=%" PRIu64 " bytes=%" PRIu64 " pass=%" PRIu64,
                cycle, base, pass);
      uint64_t rest_end = c0 + period_ms;
      while (now_ms () < rest_end)
        {
          uint64_t t0 = now_ms ();
          touch (p, base, (uint8_t) (pass + 1));
          pass++;
          uint64_t t1 = now_ms ();
          uint64_t nap = t1 - t0 < TOUCH_PERIOD_MS ? TOUCH_PERIOD_MS - (t1 - t0) : 0;
          if (t1 + nap > rest_end)
            nap = rest_end > t1 ? rest_end - t1 : 0;
          sleep_ms (nap);
        }
      cycle++;
    }
  return 0;
}

static int
run_cache (uint64_t bytes, const char *dev)
{
  /* The kernel drops a block device's page cache on its last close: keep
   * the descriptor open for as long as the cache should stay. */
  int fd = open (dev, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    {
      progress ("mode=cache event=error what=open dev=%s errno=%d", dev, errno);
      return 1;
    }
  static char buf[CACHE_CHUNK_BYTES];
  uint64_t done = 0, t0 = now_ms ();
  progress ("mode=cache event=start bytes=%" PRIu64 " dev=%s", bytes, dev);
  while (done < bytes)
    {
      size_t want = bytes - done < sizeof buf ? (size_t) (bytes - done) : sizeof buf;
      ssize_t n = read (fd, buf, want);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      done += (uint64_t) n;
    }
  progress ("mode=cache event=read-done bytes=%" PRIu64 " read_ms=%" PRIu64, done, now_ms () - t0);
  idle_forever ("cache");
  return 0;
}

static int
run_spike (uint64_t bytes, uint64_t at_ms)
{
  uint64_t start = now_ms ();
  progress ("mode=spike event=wait at_ms=%" PRIu64 " bytes=%" PRIu64, at_ms, bytes);
  while (now_ms () - start < at_ms)
    sleep_ms (at_ms - (now_ms () - start) < 1000 ? at_ms - (now_ms () - start) : 1000);
  uint8_t *p = alloc_region (bytes);
  uint64_t t0 = now_ms (), last_print = t0;
  progress ("mode=spike event=spike-start bytes=%" PRIu64, bytes);
  for (uint64_t off = 0; off < bytes; off += PAGE_BYTES)
    {
      p[off] = 1;
      uint64_t t = now_ms ();
      if (t - last_print >= PROGRESS_MS)
        {
          progress ("mode=spike event=progress touched=%" PRIu64, off + PAGE_BYTES);
          last_print = t;
        }
    }
  progress ("mode=spike event=spike-done bytes=%" PRIu64 " spike_ms=%" PRIu64, bytes,
            now_ms () - t0);
  uint64_t pass = 1;
  touch_loop ("spike", p, bytes, 0, &pass);
  return 0;
}

static void
usage (FILE *f)
{
  fprintf (f, "usage: ballast-load WORKLOAD [DISK]\n"
              "  idle | steady:SIZE | hold:SIZE:SECS | bursty:PEAK:BASE:PERIOD:BURST |\n"
              "  cache:SIZE | spike:SIZE:AT |\n"
              "  hostile[:RESET] | reset-loop:SECS  (SIZE like 200M; times in seconds)\n");
}

int
main (int argc, char **argv)
{
  if (argc < 2 || argc > 3 || strcmp (argv[1], "--help") == 0)
    {
      usage (argc < 2 ? stderr : stdout);
      return argc < 2 ? 2 : 0;
    }
  setvbuf (stdout, NULL, _IOLBF, 0);

  char spec[256];
  snprintf (spec, sizeof spec, "%s", argv[1]);
  char *field[6] = { 0 };
  int nf = 0;
  for (char *save = NULL, *t = strtok_r (spec, ":", &save); t && nf < 6;
       t = strtok_r (NULL, ":", &save))
    field[nf++] = t;
  uint64_t a = 0, b = 0, c = 0, d = 0;
  const char *mode = field[0] ? field[0] : "";

  if (strcmp (mode, "idle") == 0 && nf == 1)
    {
      progress ("mode=idle event=start");
      idle_forever ("idle");
    }
  if (strcmp (mode, "steady") == 0 && nf == 2 && parse_size (field[1], &a) && a > 0)
    return run_steady (a);
  if (strcmp (mode, "hold") == 0 && nf == 3 && parse_size (field[1], &a) && a > 0
      && parse_secs (field[2], &b))
    return run_hold (a, b);
  if (strcmp (mode, "bursty") == 0 && nf == 5 && parse_size (field[1], &a)
      && parse_size (field[2], &b) && parse_secs (field[3], &c) && parse_secs (field[4], &d))
    return run_bursty (a, b, c, d);
  if (strcmp (mode, "cache") == 0 && nf == 2 && parse_size (field[1], &a) && a > 0)
    return run_cache (a, argc == 3 ? argv[2] : DEFAULT_DISK);
  if (strcmp (mode, "spike") == 0 && nf == 3 && parse_size (field[1], &a) && a > 0
      && parse_secs (field[2], &b))
    return run_spike (a, b);
  if (strcmp (mode, "hostile") == 0 && (nf == 1 || (nf == 2 && parse_secs (field[1], &a))))
    return run_hostile (nf == 2 ? a : 0);
  if (strcmp (mode, "reset-loop") == 0 && nf == 2 && parse_secs (field[1], &a))
    return run_reset_loop (a);

  fprintf (stderr, "ballast-load: bad workload '%s'\n", argv[1]);
  usage (stderr);
  return 2;
}
