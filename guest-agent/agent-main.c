/* agent-main.c: ballast-agent, the in-guest reporter. Finds its virtio-serial
 * port, sends hello and a report every interval, ages MGLRU, and sends an
 * urgent pressure message on a PSI trigger. Static, libc only. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "agent-json.h"
#include "agent-mglru.h"
#include "agent-proc.h"
#include "agent-report.h"
#include "agent-wire.h"

#ifndef BALLAST_AGENT_VERSION
#define BALLAST_AGENT_VERSION "0"
#endif

#define LRU_GEN_PATH "/sys/kernel/debug/lru_gen"
#define LRU_GEN_ENABLED_PATH "/sys/kernel/mm/lru_gen/enabled"
#define PSI_MEMORY_PATH "/proc/pressure/memory"
#define VPORTS_DEV_DIR "/dev/virtio-ports"
#define VPORTS_SYSFS_DIR "/sys/class/virtio-ports"

/* PSI trigger: 150 ms of "some" stall within a 1 s window (docs/guest-agent.md,
 * "pressure"). */
#define AGENT_PSI_TRIGGER "some 150000 1000000"
/* The kernel fires a trigger at most once per window anyway; this bounds
 * pressure messages to a few per second whatever the trigger says. */
#define AGENT_PRESSURE_MIN_GAP_MS 250
/* How often to look for the port when it is missing (module not loaded yet,
 * device hot-unplugged): rare enough to cost nothing. */
#define AGENT_PORT_RETRY_MS 5000
/* Aging every Δ gives observable ages [0,Δ) [Δ,2Δ) [2Δ,3Δ) >=3Δ; Δ = twice
 * the first bin edge keeps the hot set within the first two bins. */
#define AGENT_AGING_MIN_MS 1000
#define AGENT_AGING_MAX_MS 30000
/* lru_gen grows with the number of memcgs: 64 lruvecs x 4 gens fit. */
#define AGENT_LRU_GEN_BUF_BYTES (256 * 1024)

/* Everything one run of the agent owns. It lives in static storage (see
 * main): the working-set history alone is about 1.5 MiB. */
typedef struct {
  /* options */
  uint32_t interval_ms;
  uint64_t aging_ms;
  bool aging_fixed;
  unsigned n_edges;
  uint64_t edges_ms[AGENT_WIRE_MAX_BINS - 1];
  const char *port_path;
  bool use_stdout;
  bool lock_memory;

  /* link */
  int port_fd;
  bool host_connected;
  bool stdin_open;
  uint64_t next_port_probe_ms;
  char inbuf[AGENT_WIRE_MAX_LINE_BYTES + 1];
  size_t inlen;
  bool in_discarding;

  /* features */
  bool mglru;
  bool psi;
  int psi_trigger_fd;
  char kernel[128];
  long page_size;

  /* kernel files, kept open, and the text read from them */
  AgentFile psi_file;
  AgentFile meminfo_file;
  AgentFile vmstat_file;
  AgentFile lru_gen_file;
  int lru_gen_write_fd;
  char meminfo_text[8192];
  char vmstat_text[16384];
  char lru_gen_text[AGENT_LRU_GEN_BUF_BYTES];
  AgentMglruSnapshot snapshot; /* of the last lru_gen read */
  AgentWsHistory history;
  char report_text[AGENT_WIRE_MAX_LINE_BYTES + 2];

  /* schedule and counters */
  uint64_t seq;
  uint64_t next_report_ms;
  uint64_t next_aging_ms;
  uint64_t last_pressure_ms;
  uint64_t dropped;
  uint64_t aging_errors;
  uint64_t config_rejected;
} Agent;

/* Set by the SIGTERM/SIGINT handler, which cannot be handed the Agent: the
 * one piece of file-level state, and of the only type a handler may write. */
static volatile sig_atomic_t stop_requested;

static uint64_t
now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_BOOTTIME, &ts);
  return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static void
on_signal (int sig)
{
  (void) sig;
  stop_requested = 1;
}

static void
logf_ (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));
static void
logf_ (const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  fputs ("ballast-agent: ", stderr);
  vfprintf (stderr, fmt, ap);
  fputc ('\n', stderr);
  va_end (ap);
}

static uint64_t
default_aging_ms (const Agent *a)
{
  uint64_t ms = a->n_edges > 0 ? 2 * a->edges_ms[0] : 2000;
  if (ms < AGENT_AGING_MIN_MS)
    ms = AGENT_AGING_MIN_MS;
  if (ms > AGENT_AGING_MAX_MS)
    ms = AGENT_AGING_MAX_MS;
  return ms;
}

/* ---- port ---- */

static bool
find_port (char *path, size_t cap)
{
  snprintf (path, cap, "%s/%s", VPORTS_DEV_DIR, AGENT_WIRE_PORT_NAME);
  if (access (path, F_OK) == 0)
    return true;

  DIR *d = opendir (VPORTS_SYSFS_DIR);
  if (!d)
    return false;
  struct dirent *e;
  bool found = false;
  while (!found && (e = readdir (d)))
    {
      if (e->d_name[0] == '.')
        continue;
      char name_path[512], name[128];
      snprintf (name_path, sizeof name_path, "%s/%s/name", VPORTS_SYSFS_DIR, e->d_name);
      long n = agent_read_file (name_path, name, sizeof name);
      if (n <= 0)
        continue;
      while (n > 0 && (name[n - 1] == '\n' || name[n - 1] == ' '))
        name[--n] = '\0';
      if (strcmp (name, AGENT_WIRE_PORT_NAME) == 0)
        {
          snprintf (path, cap, "/dev/%s", e->d_name);
          found = true;
        }
    }
  closedir (d);
  return found;
}

static void
port_close (Agent *a)
{
  if (a->port_fd >= 0 && !a->use_stdout)
    close (a->port_fd);
  a->port_fd = -1;
  a->host_connected = false;
}

static void
port_open (Agent *a, uint64_t now)
{
  char path[512];

  if (a->port_fd >= 0 || now < a->next_port_probe_ms)
    return;
  a->next_port_probe_ms = now + AGENT_PORT_RETRY_MS;
  if (a->port_path)
    snprintf (path, sizeof path, "%s", a->port_path);
  else if (!find_port (path, sizeof path))
    return;
  a->port_fd = open (path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (a->port_fd < 0)
    logf_ ("cannot open %s: %s (retrying)", path, strerror (errno));
  else
    logf_ ("using port %s", path);
}

/* ---- sending ---- */

static void
send_line (Agent *a, AgentBuf *b)
{
  agent_buf_mem (b, "\n", 1);
  if (b->overflow || b->len > AGENT_WIRE_MAX_LINE_BYTES + 1)
    {
      a->dropped++;
      return;
    }
  if (a->port_fd < 0 || !a->host_connected)
    {
      a->dropped++;
      return;
    }
  size_t off = 0;
  while (off < b->len)
    {
      ssize_t n = write (a->port_fd, b->data + off, b->len - off);
      if (n > 0)
        {
          off += (size_t) n;
          continue;
        }
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN && off > 0)
        {
          /* Finish a started line: wait briefly for room. */
          struct pollfd p = { .fd = a->port_fd, .events = POLLOUT };
          if (poll (&p, 1, 100) > 0 && !(p.revents & (POLLHUP | POLLERR)))
            continue;
        }
      if (n < 0 && errno == EAGAIN && off == 0)
        {
          a->dropped++; /* host not reading: drop, never block */
          return;
        }
      /* Port gone or broken: reopen at the next tick. */
      a->dropped++;
      port_close (a);
      a->next_port_probe_ms = 0;
      return;
    }
}

static void
send_hello (Agent *a)
{
  char storage[2048];
  AgentBuf b;
  AgentHello h = {
    .agent = "ballast-agent " BALLAST_AGENT_VERSION,
    .kernel = a->kernel,
    .page_size = a->page_size,
    .mglru = a->mglru,
    .psi = a->psi,
    .interval_ms = a->interval_ms,
    .edges_ms = a->edges_ms,
    .n_edges = a->n_edges,
    .aging_ms = a->aging_ms,
  };
  agent_buf_init (&b, storage, sizeof storage);
  agent_format_hello (&b, &h);
  send_line (a, &b);
}

static uint64_t
self_cpu_us (void)
{
  struct rusage ru;
  if (getrusage (RUSAGE_SELF, &ru) != 0)
    return 0;
  return (uint64_t) ru.ru_utime.tv_sec * 1000000 + (uint64_t) ru.ru_utime.tv_usec
         + (uint64_t) ru.ru_stime.tv_sec * 1000000 + (uint64_t) ru.ru_stime.tv_usec;
}

static bool
read_psi (Agent *a, AgentPsi *psi)
{
  char text[512];
  long n = agent_file_read (&a->psi_file, text, sizeof text);
  return n > 0 && agent_parse_psi (text, (size_t) n, psi) == 0;
}

static bool
read_meminfo (Agent *a, AgentMeminfo *mi)
{
  long n = agent_file_read (&a->meminfo_file, a->meminfo_text, sizeof a->meminfo_text);
  return n > 0 && agent_parse_meminfo (a->meminfo_text, (size_t) n, mi) == 0;
}

/* Leaves @vs as it was (zeroes) when vmstat cannot be read. */
static void
read_vmstat (Agent *a, AgentVmstat *vs)
{
  long n = agent_file_read (&a->vmstat_file, a->vmstat_text, sizeof a->vmstat_text);
  if (n > 0)
    agent_parse_vmstat (a->vmstat_text, (size_t) n, vs);
}

/* Replaces the snapshot with the current lru_gen. */
static bool
read_lru_gen (Agent *a)
{
  long n = agent_file_read (&a->lru_gen_file, a->lru_gen_text, sizeof a->lru_gen_text);
  return n > 0 && agent_mglru_parse (a->lru_gen_text, (size_t) n, &a->snapshot) == 0;
}

static int
write_aging_cmd (const char *cmd, size_t len, void *user_data)
{
  int fd = *(int *) user_data;
  return write (fd, cmd, len) < 0 ? -errno : 0;
}

/* Ages every lruvec of the latest snapshot (read by the last report, at
 * most one interval ago; a max_seq that moved since is refused with -EINVAL
 * and retried next round). */
static void
age_all (Agent *a)
{
  if (a->snapshot.n_lruvecs == 0 && !read_lru_gen (a))
    {
      a->aging_errors++;
      return;
    }
  if (a->lru_gen_write_fd < 0)
    a->lru_gen_write_fd = open (LRU_GEN_PATH, O_WRONLY | O_CLOEXEC);
  if (a->lru_gen_write_fd < 0)
    {
      a->aging_errors++;
      return;
    }
  AgentAgingResult res;
  agent_mglru_age_all (&a->snapshot, write_aging_cmd, &a->lru_gen_write_fd, &res);
  a->aging_errors += res.failed;
  if (res.failed)
    {
      close (a->lru_gen_write_fd);
      a->lru_gen_write_fd = -1;
    }
}

/* Fills @bins and the edges of @r: from MGLRU when it reads, else from the
 * active and inactive lists (active as "recently used", at the first edge,
 * inactive as older: a coarse picture that errs towards a larger working
 * set). */
static void
gather_ws (Agent *a, const AgentMeminfo *mi, uint64_t now, AgentReport *r, AgentBin *bins)
{
  /* The first default edge, should the agent have no edges at all. */
  static const uint64_t fallback_edge_ms[] = { 1000 };

  if (a->mglru && read_lru_gen (a))
    {
      agent_ws_history_record (&a->history, &a->snapshot, now);
      agent_ws_histogram (&a->snapshot, &a->history, now, (uint64_t) a->page_size,
                          a->edges_ms, a->n_edges, bins);
      r->ws_source = "mglru";
      r->edges_ms = a->edges_ms;
      r->n_edges = a->n_edges;
      return;
    }
  bins[0] = (AgentBin) { .anon_bytes = mi->active_anon_bytes, .file_bytes = mi->active_file_bytes };
  bins[1] = (AgentBin) { .anon_bytes = mi->inactive_anon_bytes,
                         .file_bytes = mi->inactive_file_bytes };
  r->ws_source = "meminfo";
  r->edges_ms = a->n_edges ? a->edges_ms : fallback_edge_ms;
  r->n_edges = 1;
}

static void
send_report (Agent *a, uint64_t now)
{
  AgentMeminfo mi;
  AgentPsi psi;
  AgentVmstat vs = { 0 };
  AgentBin bins[AGENT_WIRE_MAX_BINS];
  AgentBuf b;

  if (!read_meminfo (a, &mi))
    {
      a->dropped++;
      return;
    }
  bool have_psi = a->psi && read_psi (a, &psi);
  read_vmstat (a, &vs);

  AgentReport r = {
    .seq = ++a->seq,
    .uptime_ms = now,
    .mem = &mi,
    .psi = have_psi ? &psi : NULL,
    .vmstat = &vs,
    .bins = bins,
  };
  gather_ws (a, &mi, now, &r, bins);
  r.cpu_us = self_cpu_us ();
  r.dropped = a->dropped;
  r.aging_errors = a->aging_errors;
  agent_buf_init (&b, a->report_text, sizeof a->report_text);
  agent_format_report (&b, &r);
  send_line (a, &b);
}

static void
send_pressure (Agent *a, uint64_t now)
{
  AgentPsi psi = { 0 };
  AgentMeminfo mi = { 0 };
  char storage[512];
  AgentBuf b;

  read_psi (a, &psi);
  read_meminfo (a, &mi);
  AgentPressure p = {
    .seq = ++a->seq,
    .uptime_ms = now,
    .psi = &psi,
    .available_bytes = mi.available_bytes,
  };
  agent_buf_init (&b, storage, sizeof storage);
  agent_format_pressure (&b, &p);
  send_line (a, &b);
}

/* ---- receiving ---- */

static void
handle_line (Agent *a, const char *line, size_t len)
{
  AgentConfig cfg;
  int r = agent_config_parse (line, len, &cfg);
  if (r == -ENOMSG)
    return;
  if (r < 0)
    {
      a->config_rejected++;
      logf_ ("rejected a host message (%s)", r == -EPROTONOSUPPORT ? "version" : "malformed");
      return;
    }
  bool bins_changed = false;
  if (cfg.has_interval)
    a->interval_ms = cfg.interval_ms;
  if (cfg.has_bins)
    {
      bins_changed = cfg.n_bins_ms != a->n_edges
                     || memcmp (cfg.bins_ms, a->edges_ms, cfg.n_bins_ms * sizeof cfg.bins_ms[0]) != 0;
      a->n_edges = cfg.n_bins_ms;
      memcpy (a->edges_ms, cfg.bins_ms, cfg.n_bins_ms * sizeof cfg.bins_ms[0]);
      if (!a->aging_fixed)
        a->aging_ms = default_aging_ms (a);
    }
  logf_ ("config: interval %u ms, %u bins%s", a->interval_ms, a->n_edges + 1,
         bins_changed ? " (changed)" : "");
  /* Next report at the new pace. */
  uint64_t now = now_ms ();
  if (a->next_report_ms > now + a->interval_ms)
    a->next_report_ms = now + a->interval_ms;
}

/* Reads what is available on @fd and handles complete lines; an over-long
 * line is discarded up to its newline. Returns false on EOF/error. */
static bool
read_input (Agent *a, int fd)
{
  for (;;)
    {
      char chunk[4096];
      ssize_t n = read (fd, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN)
        return true;
      if (n <= 0)
        return false;
      for (ssize_t i = 0; i < n; i++)
        {
          char c = chunk[i];
          if (c == '\n')
            {
              if (!a->in_discarding)
                handle_line (a, a->inbuf, a->inlen);
              a->inlen = 0;
              a->in_discarding = false;
            }
          else if (a->in_discarding)
            continue;
          else if (a->inlen == AGENT_WIRE_MAX_LINE_BYTES)
            {
              a->in_discarding = true;
              a->config_rejected++;
            }
          else
            a->inbuf[a->inlen++] = c;
        }
      if ((size_t) n < sizeof chunk)
        return true;
    }
}

/* Whether the host end of the port is open (QEMU reports a connected
 * chardev; an unconnected one makes the port poll POLLHUP). */
static bool
host_is_connected (Agent *a)
{
  if (a->use_stdout)
    return true;
  if (a->port_fd < 0)
    return false;
  struct pollfd p = { .fd = a->port_fd, .events = POLLOUT };
  if (poll (&p, 1, 0) < 0)
    return a->host_connected;
  return !(p.revents & (POLLHUP | POLLERR | POLLNVAL));
}

/* ---- setup ---- */

static void
agent_init (Agent *a)
{
  static const uint64_t default_edges[] = AGENT_WIRE_DEFAULT_BINS_MS;

  a->interval_ms = AGENT_WIRE_DEFAULT_INTERVAL_MS;
  a->n_edges = AGENT_WIRE_DEFAULT_NR_BINS_MS;
  memcpy (a->edges_ms, default_edges, sizeof default_edges);
  a->lock_memory = true;
  a->port_fd = -1;
  a->psi_trigger_fd = -1;
  a->psi_file = (AgentFile) AGENT_FILE_INIT (PSI_MEMORY_PATH);
  a->meminfo_file = (AgentFile) AGENT_FILE_INIT ("/proc/meminfo");
  a->vmstat_file = (AgentFile) AGENT_FILE_INIT ("/proc/vmstat");
  a->lru_gen_file = (AgentFile) AGENT_FILE_INIT (LRU_GEN_PATH);
  a->lru_gen_write_fd = -1;
}

/* Closes what the run opened (stdout stays open). */
static void
agent_close (Agent *a)
{
  port_close (a);
  if (a->psi_trigger_fd >= 0)
    close (a->psi_trigger_fd);
  if (a->lru_gen_write_fd >= 0)
    close (a->lru_gen_write_fd);
  agent_file_close (&a->psi_file);
  agent_file_close (&a->meminfo_file);
  agent_file_close (&a->vmstat_file);
  agent_file_close (&a->lru_gen_file);
}

/* Registers the PSI trigger; its descriptor then polls POLLPRI when the
 * guest stalls on memory. */
static void
arm_psi_trigger (Agent *a)
{
  int fd = open (PSI_MEMORY_PATH, O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd >= 0 && write (fd, AGENT_PSI_TRIGGER, sizeof AGENT_PSI_TRIGGER) < 0)
    {
      logf_ ("PSI trigger not available: %s", strerror (errno));
      close (fd);
      fd = -1;
    }
  a->psi_trigger_fd = fd;
}

static void
detect_features (Agent *a)
{
  struct utsname u;
  if (uname (&u) == 0)
    snprintf (a->kernel, sizeof a->kernel, "%s", u.release);
  a->page_size = sysconf (_SC_PAGESIZE);
  if (a->page_size <= 0)
    a->page_size = 4096;

  char text[64];
  long n = agent_read_file (LRU_GEN_ENABLED_PATH, text, sizeof text);
  unsigned long caps = n > 0 ? strtoul (text, NULL, 0) : 0;
  a->mglru = (caps & 1) && read_lru_gen (a) && a->snapshot.n_lruvecs > 0;

  AgentPsi psi;
  a->psi = read_psi (a, &psi);
  if (a->psi)
    arm_psi_trigger (a);
  logf_ ("kernel %s, mglru %s, psi %s%s", a->kernel, a->mglru ? "yes" : "no (meminfo fallback)",
         a->psi ? "yes" : "no", a->psi_trigger_fd >= 0 ? " (trigger armed)" : "");
}

static void
install_signal_handlers (void)
{
  struct sigaction sa = { .sa_handler = on_signal };
  sigaction (SIGTERM, &sa, NULL);
  sigaction (SIGINT, &sa, NULL);
  signal (SIGPIPE, SIG_IGN);
}

/* The reporter must keep running when the guest is short of memory: stay
 * resident and out of the OOM killer's way (best effort). */
static void
stay_resident (const Agent *a)
{
  if (a->lock_memory && mlockall (MCL_CURRENT | MCL_FUTURE) != 0)
    logf_ ("mlockall: %s (continuing)", strerror (errno));
  int adj = open ("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
  if (adj >= 0)
    {
      if (write (adj, "-1000", 5) < 0)
        logf_ ("oom_score_adj: %s (continuing)", strerror (errno));
      close (adj);
    }
}

/* --stdout: the "port" is stdout, always connected; host lines come from
 * stdin until it closes. */
static void
start_stdio (Agent *a)
{
  setvbuf (stdout, NULL, _IONBF, 0);
  a->port_fd = STDOUT_FILENO;
  a->host_connected = true;
  a->stdin_open = true;
  int fl = fcntl (STDIN_FILENO, F_GETFL);
  if (fl >= 0)
    fcntl (STDIN_FILENO, F_SETFL, fl | O_NONBLOCK);
  send_hello (a);
}

/* ---- options ---- */

static bool
parse_bins (Agent *a, const char *arg)
{
  unsigned n = 0;
  const char *p = arg;
  while (*p)
    {
      char *end;
      errno = 0;
      unsigned long long v = strtoull (p, &end, 10);
      if (end == p || errno || v == 0 || v > AGENT_WIRE_MAX_BIN_MS || n == AGENT_WIRE_MAX_BINS - 1
          || (n > 0 && v <= a->edges_ms[n - 1]))
        return false;
      a->edges_ms[n++] = v;
      if (*end == ',')
        end++;
      else if (*end)
        return false;
      p = end;
    }
  a->n_edges = n;
  return n > 0;
}

/* Parses a whole decimal option value within [@lo, @hi]. */
static bool
parse_bounded (const char *arg, unsigned long long lo, unsigned long long hi,
               unsigned long long *out)
{
  char *end;
  unsigned long long v = strtoull (arg, &end, 10);
  if (*end || v < lo || v > hi)
    return false;
  *out = v;
  return true;
}

static void
usage (FILE *f)
{
  fprintf (f,
           "usage: ballast-agent [--interval-ms N] [--bins MS,MS,...] [--aging-ms N]\n"
           "                     [--port PATH] [--stdout] [--no-mlock] [--version]\n"
           "Reports memory, PSI and the MGLRU working set to the host on the\n"
           "virtio-serial port " AGENT_WIRE_PORT_NAME " (found by name by default).\n"
           "--stdout writes messages to stdout and reads config lines from stdin.\n");
}

/* Applies one option from getopt_long. Returns false when the agent must
 * exit at once with *@exit_code (bad value, --help, --version). */
static bool
apply_option (Agent *a, int opt, const char *arg, int *exit_code)
{
  unsigned long long v;

  *exit_code = 2;
  switch (opt)
    {
    case 'i':
      if (!parse_bounded (arg, AGENT_WIRE_MIN_INTERVAL_MS, AGENT_WIRE_MAX_INTERVAL_MS, &v))
        {
          fprintf (stderr, "ballast-agent: --interval-ms must be %d..%d\n",
                   AGENT_WIRE_MIN_INTERVAL_MS, AGENT_WIRE_MAX_INTERVAL_MS);
          return false;
        }
      a->interval_ms = (uint32_t) v;
      return true;
    case 'b':
      if (!parse_bins (a, arg))
        {
          fprintf (stderr, "ballast-agent: --bins wants up to %d increasing ms values\n",
                   AGENT_WIRE_MAX_BINS - 1);
          return false;
        }
      return true;
    case 'a':
      if (!parse_bounded (arg, 100, AGENT_AGING_MAX_MS, &v))
        {
          fprintf (stderr, "ballast-agent: --aging-ms must be 100..%d\n", AGENT_AGING_MAX_MS);
          return false;
        }
      a->aging_ms = v;
      a->aging_fixed = true;
      return true;
    case 'p':
      a->port_path = arg;
      return true;
    case 's':
      a->use_stdout = true;
      return true;
    case 'm':
      a->lock_memory = false;
      return true;
    case 'V':
      printf ("ballast-agent %s\n", BALLAST_AGENT_VERSION);
      *exit_code = 0;
      return false;
    case 'h':
      usage (stdout);
      *exit_code = 0;
      return false;
    default:
      usage (stderr);
      return false;
    }
}

/* Returns false when the agent must exit at once with *@exit_code. */
static bool
parse_options (Agent *a, int argc, char **argv, int *exit_code)
{
  static const struct option opts[] = {
    { "interval-ms", required_argument, NULL, 'i' },
    { "bins", required_argument, NULL, 'b' },
    { "aging-ms", required_argument, NULL, 'a' },
    { "port", required_argument, NULL, 'p' },
    { "stdout", no_argument, NULL, 's' },
    { "no-mlock", no_argument, NULL, 'm' },
    { "version", no_argument, NULL, 'V' },
    { "help", no_argument, NULL, 'h' },
    { 0 },
  };
  int c;

  while ((c = getopt_long (argc, argv, "", opts, NULL)) != -1)
    if (!apply_option (a, c, optarg, exit_code))
      return false;
  if (!a->aging_fixed)
    a->aging_ms = default_aging_ms (a);
  return true;
}

/* ---- loop ---- */

/* Opens (or reopens) the port and follows the host end: hello on every
 * new connection, with the line reader reset. */
static void
track_host (Agent *a, uint64_t now)
{
  port_open (a, now);
  bool connected = host_is_connected (a);
  if (connected && !a->host_connected)
    {
      a->host_connected = true;
      a->inlen = 0;
      a->in_discarding = false;
      send_hello (a);
    }
  a->host_connected = connected;
}

/* Moves a deadline on by one period; one missed by more than a period is
 * skipped, not caught up with a burst. */
static void
advance_deadline (uint64_t *next_ms, uint64_t period_ms, uint64_t now)
{
  *next_ms += period_ms;
  if (*next_ms <= now)
    *next_ms = now + period_ms;
}

/* Ages first, so the report shows the generations of this round. */
static void
run_due_work (Agent *a, uint64_t now)
{
  if (a->mglru && now >= a->next_aging_ms)
    {
      age_all (a);
      advance_deadline (&a->next_aging_ms, a->aging_ms, now);
    }
  if (now >= a->next_report_ms)
    {
      send_report (a, now);
      advance_deadline (&a->next_report_ms, a->interval_ms, now);
    }
}

/* The descriptor host lines arrive on, or -1 while there is none to poll. */
static int
input_fd (const Agent *a)
{
  if (a->use_stdout)
    return a->stdin_open ? STDIN_FILENO : -1;
  return a->host_connected ? a->port_fd : -1;
}

static int
poll_timeout_ms (const Agent *a)
{
  uint64_t wake = a->next_report_ms;
  if (a->mglru && a->next_aging_ms < wake)
    wake = a->next_aging_ms;
  uint64_t now = now_ms ();
  return wake > now ? (int) (wake - now) : 0;
}

static void
on_psi_event (Agent *a, short revents)
{
  if (revents & (POLLERR | POLLNVAL))
    {
      logf_ ("PSI trigger failed; pressure messages off");
      close (a->psi_trigger_fd);
      a->psi_trigger_fd = -1;
      return;
    }
  if (!(revents & POLLPRI))
    return;
  uint64_t now = now_ms ();
  if (a->last_pressure_ms == 0 || now >= a->last_pressure_ms + AGENT_PRESSURE_MIN_GAP_MS)
    {
      a->last_pressure_ms = now;
      send_pressure (a, now);
    }
}

static void
on_input_event (Agent *a, int fd, short revents)
{
  bool ok = true;
  if (revents & POLLIN)
    ok = read_input (a, fd);
  if (ok && !(revents & (POLLHUP | POLLERR | POLLNVAL)))
    return;
  /* Host end closed: stop polling it (it would report HUP in a loop) and
   * look again at the next tick. */
  if (a->use_stdout)
    a->stdin_open = false;
  else
    a->host_connected = false;
}

/* Sleeps until the next deadline, a PSI trigger or a host line. */
static void
wait_for_events (Agent *a)
{
  struct pollfd pfd[2];
  int nfds = 0, psi_idx = -1, in_idx = -1;
  int in_fd = input_fd (a);

  if (a->psi_trigger_fd >= 0)
    {
      psi_idx = nfds;
      pfd[nfds++] = (struct pollfd) { .fd = a->psi_trigger_fd, .events = POLLPRI };
    }
  if (in_fd >= 0)
    {
      in_idx = nfds;
      pfd[nfds++] = (struct pollfd) { .fd = in_fd, .events = POLLIN };
    }
  if (poll (pfd, (nfds_t) nfds, poll_timeout_ms (a)) <= 0)
    return;
  if (psi_idx >= 0 && pfd[psi_idx].revents)
    on_psi_event (a, pfd[psi_idx].revents);
  if (in_idx >= 0 && pfd[in_idx].revents)
    on_input_event (a, in_fd, pfd[in_idx].revents);
}

static void
run_once (Agent *a)
{
  uint64_t now = now_ms ();
  if (!a->use_stdout)
    track_host (a, now);
  run_due_work (a, now);
  wait_for_events (a);
}

int
main (int argc, char **argv)
{
  static Agent agent; /* static: see Agent */
  Agent *a = &agent;
  int exit_code;

  agent_init (a);
  if (!parse_options (a, argc, argv, &exit_code))
    return exit_code;
  install_signal_handlers ();
  stay_resident (a);
  detect_features (a);
  if (a->use_stdout)
    start_stdio (a);
  a->next_report_ms = a->next_aging_ms = now_ms ();
  while (!stop_requested)
    run_once (a);
  logf_ ("stopping");
  agent_close (a);
  return 0;
}
