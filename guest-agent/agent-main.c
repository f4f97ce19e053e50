/* agent-main.c: ballast-agent's options, context and loop: aging and a report every
 * interval, hello on every host connection, pressure on a PSI trigger. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "agent-json.h"
#include "agent-log.h"
#include "agent-port.h"
#include "agent-reclaim.h"
#include "agent-report.h"
#include "agent-sources.h"
#include "agent-wire.h"

#ifndef BALLAST_AGENT_VERSION
#define BALLAST_AGENT_VERSION "0"
#endif

/* The kernel fires a trigger at most once per window anyway; this bounds
 * pressure messages to a few per second whatever the trigger says. */
#define AGENT_PRESSURE_MIN_GAP_MS 250
/* Aging every Δ gives observable ages [0,Δ) [Δ,2Δ) [2Δ,3Δ) >=3Δ; Δ = twice
 * the first bin edge keeps the hot set within the first two bins. */
#define AGENT_AGING_MIN_MS 1000
#define AGENT_AGING_MAX_MS 30000
/* Shortest --aging-ms: an explicit period may go below the default's floor. */
#define AGENT_AGING_OPTION_MIN_MS 100

/* Everything one run of the agent owns. It lives in static storage (see
 * main): the working-set history alone is about 1.5 MiB. */
typedef struct
{
  /* options (and the config the host sends) */
  uint32_t interval_ms;
  uint64_t aging_ms;
  bool aging_fixed;
  unsigned n_edges;
  uint64_t edges_ms[AGENT_WIRE_MAX_BINS - 1];
  bool lock_memory;

  AgentPort port;
  AgentSources sources;
  char report_text[AGENT_WIRE_MAX_LINE_BYTES + 2];

  /* schedule and counters */
  uint64_t seq;
  uint64_t next_report_ms;
  uint64_t next_aging_ms;
  uint64_t last_pressure_ms;
  uint64_t dropped;
  uint64_t aging_errors;
  uint64_t config_rejected;
  AgentReclaim reclaim;
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

/* ---- messages ---- */

static void
send_line (Agent *a, AgentBuf *b)
{
  if (!agent_port_send_line (&a->port, b))
    a->dropped++;
}

static void
send_hello (Agent *a)
{
  char storage[2048];
  AgentBuf b;
  AgentHello h = {
    .agent = "ballast-agent " BALLAST_AGENT_VERSION,
    .kernel = a->sources.kernel,
    .page_size = a->sources.page_size,
    .mglru = a->sources.mglru,
    .psi = a->sources.psi,
    .reclaim = agent_reclaim_available (AGENT_RECLAIM_PATH),
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

/* Fills @bins and the edges of @r from MGLRU when it reads, else from the
 * active and inactive lists (active as "recently used", at the first edge,
 * inactive as older: a coarse picture that errs towards a larger working
 * set). */
static void
gather_ws (Agent *a, const AgentMeminfo *mi, uint64_t now, AgentReport *r, AgentBin *bins)
{
  /* The first default edge, should the agent have no edges at all. */
  static const uint64_t fallback_edge_ms[] = { 1000 };

  if (agent_sources_ws_histogram (&a->sources, now, a->edges_ms, a->n_edges, bins))
    {
      r->ws_source = "mglru";
      r->edges_ms = a->edges_ms;
      r->n_edges = a->n_edges;
      return;
    }
  bins[0] = (AgentBin){ .anon_bytes = mi->active_anon_bytes, .file_bytes = mi->active_file_bytes };
  bins[1]
      = (AgentBin){ .anon_bytes = mi->inactive_anon_bytes, .file_bytes = mi->inactive_file_bytes };
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

  if (!agent_sources_read_meminfo (&a->sources, &mi))
    {
      a->dropped++;
      return;
    }
  bool have_psi = a->sources.psi && agent_sources_read_psi (&a->sources, &psi);
  agent_sources_read_vmstat (&a->sources, &vs);

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
  r.reclaim = &a->reclaim;
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

  agent_sources_read_psi (&a->sources, &psi);
  agent_sources_read_meminfo (&a->sources, &mi);
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

static void
apply_config (Agent *a, const AgentConfig *cfg)
{
  bool bins_changed = false;
  if (cfg->has_interval)
    a->interval_ms = cfg->interval_ms;
  if (cfg->has_bins)
    {
      bins_changed
          = cfg->n_bins_ms != a->n_edges
            || memcmp (cfg->bins_ms, a->edges_ms, cfg->n_bins_ms * sizeof cfg->bins_ms[0]) != 0;
      a->n_edges = cfg->n_bins_ms;
      memcpy (a->edges_ms, cfg->bins_ms, cfg->n_bins_ms * sizeof cfg->bins_ms[0]);
      if (!a->aging_fixed)
        a->aging_ms = default_aging_ms (a);
    }
  agent_log ("config: interval %u ms, %u bins%s", a->interval_ms, a->n_edges + 1,
             bins_changed ? " (changed)" : "");
  /* Next report at the new pace. */
  uint64_t now = now_ms ();
  if (a->next_report_ms > now + a->interval_ms)
    a->next_report_ms = now + a->interval_ms;
}

/* Runs a valid reclaim request unless it comes too soon after the last. The
 * write blocks the loop while the kernel reclaims (bounded by the cap). */
static void
run_reclaim (Agent *a, uint64_t bytes)
{
  uint64_t t0 = now_ms ();
  uint64_t ask = agent_reclaim_admit (&a->reclaim, bytes, t0);
  if (ask == 0)
    return;
  int r = agent_reclaim_write (AGENT_RECLAIM_PATH, ask);
  uint64_t t1 = now_ms ();
  agent_reclaim_finish (&a->reclaim, ask, r, t1);
  if (r < 0)
    agent_log ("reclaim of %llu bytes: %s: %s", (unsigned long long) ask, AGENT_RECLAIM_PATH,
               strerror (-r));
  else
    agent_log ("reclaim: asked for %llu bytes, %s, %llu ms", (unsigned long long) ask,
               r == 1 ? "kernel reclaimed less" : "done", (unsigned long long) (t1 - t0));
}

/* A line from the host: a config is applied, a reclaim run, other message
 * types ignored. */
static void
handle_line (const char *line, size_t len, void *user_data)
{
  Agent *a = user_data;
  AgentHostMsg m;
  int r = agent_host_parse (line, len, &m);
  if (r == -ENOMSG)
    return;
  if (r < 0)
    {
      if (m.type == AGENT_HOST_RECLAIM)
        a->reclaim.refused++;
      else
        a->config_rejected++;
      agent_log ("rejected a host %smessage (%s)",
                 m.type == AGENT_HOST_RECLAIM  ? AGENT_WIRE_MSG_RECLAIM " "
                 : m.type == AGENT_HOST_CONFIG ? "config "
                                               : "",
                 r == -EPROTONOSUPPORT ? "version" : "malformed");
      return;
    }
  if (m.type == AGENT_HOST_CONFIG)
    apply_config (a, &m.config);
  else
    run_reclaim (a, m.reclaim_bytes);
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
  agent_port_init (&a->port);
  agent_sources_init (&a->sources);
}

static void
agent_close (Agent *a)
{
  agent_port_close (&a->port);
  agent_sources_close (&a->sources);
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
    agent_log ("mlockall: %s (continuing)", strerror (errno));
  int adj = open ("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
  if (adj >= 0)
    {
      if (write (adj, "-1000", 5) < 0)
        agent_log ("oom_score_adj: %s (continuing)", strerror (errno));
      close (adj);
    }
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
  fprintf (f, "usage: ballast-agent [--interval-ms N] [--bins MS,MS,...] [--aging-ms N]\n"
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
        if (!parse_bounded (arg, AGENT_AGING_OPTION_MIN_MS, AGENT_AGING_MAX_MS, &v))
          {
            fprintf (stderr, "ballast-agent: --aging-ms must be %d..%d\n",
                     AGENT_AGING_OPTION_MIN_MS, AGENT_AGING_MAX_MS);
            return false;
          }
        a->aging_ms = v;
        a->aging_fixed = true;
        return true;
      case 'p':
        a->port.path = arg;
        return true;
      case 's':
        a->port.use_stdout = true;
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
  if (a->sources.mglru && now >= a->next_aging_ms)
    {
      a->aging_errors += agent_sources_age (&a->sources);
      advance_deadline (&a->next_aging_ms, a->aging_ms, now);
    }
  if (now >= a->next_report_ms)
    {
      send_report (a, now);
      advance_deadline (&a->next_report_ms, a->interval_ms, now);
    }
}

static int
poll_timeout_ms (const Agent *a)
{
  uint64_t wake = a->next_report_ms;
  if (a->sources.mglru && a->next_aging_ms < wake)
    wake = a->next_aging_ms;
  uint64_t now = now_ms ();
  return wake > now ? (int) (wake - now) : 0;
}

static void
on_psi_event (Agent *a, short revents)
{
  if (revents & (POLLERR | POLLNVAL))
    {
      agent_log ("PSI trigger failed; pressure messages off");
      agent_sources_drop_psi_trigger (&a->sources);
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

/* Sleeps until the next deadline, a PSI trigger or a host line. */
static void
wait_for_events (Agent *a)
{
  struct pollfd pfd[2];
  int nfds = 0, psi_idx = -1, in_idx = -1;
  int in_fd = agent_port_input_fd (&a->port);

  if (a->sources.psi_trigger_fd >= 0)
    {
      psi_idx = nfds;
      pfd[nfds++] = (struct pollfd){ .fd = a->sources.psi_trigger_fd, .events = POLLPRI };
    }
  if (in_fd >= 0)
    {
      in_idx = nfds;
      pfd[nfds++] = (struct pollfd){ .fd = in_fd, .events = POLLIN };
    }
  if (poll (pfd, (nfds_t) nfds, poll_timeout_ms (a)) <= 0)
    return;
  if (psi_idx >= 0 && pfd[psi_idx].revents)
    on_psi_event (a, pfd[psi_idx].revents);
  if (in_idx >= 0 && pfd[in_idx].revents)
    agent_port_handle_input (&a->port, in_fd, pfd[in_idx].revents, handle_line, a);
}

static void
run_once (Agent *a)
{
  uint64_t now = now_ms ();
  if (!a->port.use_stdout && agent_port_track (&a->port, now))
    send_hello (a);
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
  agent_sources_detect (&a->sources);
  if (a->port.use_stdout)
    {
      agent_port_start_stdio (&a->port);
      send_hello (a);
    }
  a->next_report_ms = a->next_aging_ms = now_ms ();
  while (!stop_requested)
    run_once (a);
  agent_log ("stopping");
  agent_close (a);
  return 0;
}
