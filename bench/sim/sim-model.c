/* sim-model.c: the modelled host (guests, balloons, host backing, KSM) and the
 * run loop that turns it into PolicySnapshots and applies the Decisions. */
#include "sim.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define SIM_PAGE_BYTES 4096ull
/* Working-set history: the highest touched size per 10 s bucket, 64 buckets
 * (10 min 40 s) per VM; enough for every bin below. */
#define SIM_WS_BUCKET_MS 10000u
#define SIM_WS_BUCKETS 64u
/* Histogram bin ages (s) the modelled agent reports; the last bin is open. */
static const uint32_t sim_ws_ages_s[] = { 10, 30, 60, 120, 300, 600 };
#define SIM_WS_N_AGES (sizeof sim_ws_ages_s / sizeof sim_ws_ages_s[0])

typedef struct
{
  const SimVmSpec *spec;
  char *name;
  char *name_json; /* escaped, quoted */
  uint64_t id;
  uint64_t phase_ms;
  size_t cursor;
  /* lifecycle */
  bool started, alive, stopping, gone;
  uint64_t start_ms, boot_until_ms;
  uint32_t kicks;
  /* balloon */
  uint64_t actual, target;
  bool target_issued;
  /* guest */
  uint64_t demand, touched, cache_eff;
  uint64_t cache_dropped; /* cache the guest dropped at the controller's request */
  bool capped; /* after an OOM kill the workload is held at cap until demand falls */
  uint64_t cap;
  uint64_t resident; /* host memory backing the guest */
  bool stalled;
  uint64_t stall_ms, stall_run_ms, oom_kills, host_oom_kills, alive_ms;
  uint64_t psi_total_us;
  /* reports */
  uint64_t stats_at_ms, agent_at_ms;
  bool stats_valid, agent_valid;
  /* The last reports, as the daemon keeps them between reports (a snapshot
   * rebuilt for a start or a stop carries them over). */
  PolicyGuestStats stats;
  PolicyWs ws_report;
  uint64_t psi_reported_us;
  double psi_avg10_pct;
  uint64_t ws[SIM_WS_BUCKETS];
  /* KSM */
  double merged_bytes;
  /* spike reaction */
  bool spike_on, spike_visible, spike_raised, spike_met;
  uint64_t spike_at_ms, spike_demand;
  SimVmResult *res;
  size_t snap_idx;
  const char *reason;
  uint64_t need;
} SimVm;

typedef struct
{
  const SimScenario *sc;
  size_t n;
  SimVm *vm;
  PolicyVm *snap_vms;
  size_t n_snap;
  size_t *snap_of; /* snapshot slot -> vm index */
  PolicyDecision dec, kdec;
  PolicyVmDecision *dec_vms, *kdec_vms;
  PolicyDecideFn bfn, kfn;
  const char *bname, *kname; /* for errors */
  PolicyCarry *bcarry, *kcarry;
  bool kfn_is_bfn;
  /* host */
  uint64_t host_used;
  /* ksm */
  uint32_t ksm_run, ksm_pages, ksm_sleep;
  double ksm_saved, ksm_cursor, ksm_cpu_ns, ksm_scanned;
  uint64_t ksm_full_scans;
  uint64_t blind_vm_ticks;
  /* free page reporting: the share of a guest's free memory a tick of
   * fpr_keep_dt_ms leaves on the host */
  double fpr_keep;
  uint64_t fpr_keep_dt_ms;
  double sum_resident, sum_mergeable;
  const char *ksm_reason;
  PolicyKsmState ksm_state;
  uint64_t bucket_now;
  /* the world step */
  uint64_t rot;        /* ticks stepped: the step order starts at the rot-th running VM */
  uint64_t sum_actual; /* this tick's balloons of the running VMs */
  /* sums over the ticks, for the summary's means */
  double tot_used, tot_actual, tot_resident, tot_saved;
} Sim;

/* splitmix64: the simulator's only source of randomness, from the seed. */
static uint64_t
sim_rand (uint64_t *state)
{
  uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static uint64_t
min_u64 (uint64_t a, uint64_t b)
{
  return a < b ? a : b;
}

static uint64_t
max_u64 (uint64_t a, uint64_t b)
{
  return a > b ? a : b;
}

uint64_t
sim_demand_at (const SimDemand *d, uint64_t phase_ms, uint64_t t_ms, size_t *cursor)
{
  switch (d->kind)
    {
      case SIM_DEMAND_STEADY:
      case SIM_DEMAND_IDLE:
        return d->bytes;
      case SIM_DEMAND_BURSTY:
        {
          /* The burst starts at phase_ms within each period. */
          uint64_t p = (t_ms + d->period_ms - phase_ms % d->period_ms) % d->period_ms;
          if (p >= d->burst_ms)
            return d->base;
          if (p < d->ramp_ms && d->peak > d->base)
            {
              /* Linear ramp: the level reached at the end of this millisecond. */
              double f = (double) (p + 1) / (double) d->ramp_ms;
              return d->base + (uint64_t) ((double) (d->peak - d->base) * (f < 1.0 ? f : 1.0));
            }
          return d->peak;
        }
      case SIM_DEMAND_SPIKE:
        if (t_ms >= d->at_ms && (d->dur_ms == 0 || t_ms < d->at_ms + d->dur_ms))
          return d->base + d->bytes;
        return d->base;
      case SIM_DEMAND_POINTS:
        {
          size_t i = cursor != NULL ? *cursor : 0;
          if (i >= d->n_points || d->pt_ms[i] > t_ms)
            i = 0;
          while (i + 1 < d->n_points && d->pt_ms[i + 1] <= t_ms)
            i++;
          if (cursor != NULL)
            *cursor = i;
          if (t_ms <= d->pt_ms[0])
            return d->pt_bytes[0];
          if (i + 1 >= d->n_points)
            return d->pt_bytes[i];
          double f = (double) (t_ms - d->pt_ms[i]) / (double) (d->pt_ms[i + 1] - d->pt_ms[i]);
          return (uint64_t) ((double) d->pt_bytes[i]
                             + f * ((double) d->pt_bytes[i + 1] - (double) d->pt_bytes[i]));
        }
    }
  return 0;
}

static void
vm_ws_touch (SimVm *v, uint64_t bucket)
{
  uint64_t *b = &v->ws[bucket % SIM_WS_BUCKETS];
  if (v->touched > *b)
    *b = v->touched;
}

/* Highest touched size over the last `age_s` (at 10 s resolution). */
static uint64_t
vm_ws_max (const SimVm *v, uint64_t bucket, uint32_t age_s)
{
  uint32_t nb = (age_s * 1000u + SIM_WS_BUCKET_MS - 1) / SIM_WS_BUCKET_MS;
  uint64_t m = 0;
  for (uint32_t k = 0; k <= nb && k <= bucket && k < SIM_WS_BUCKETS; k++)
    m = max_u64 (m, v->ws[(bucket - k) % SIM_WS_BUCKETS]);
  return m;
}

static void
vm_fill_ws (const SimVm *v, uint64_t bucket, PolicyWs *ws)
{
  ws->source = POLICY_WS_AGENT;
  ws->n_bins = SIM_WS_N_AGES + 1;
  uint64_t prev = 0;
  for (size_t i = 0; i < SIM_WS_N_AGES; i++)
    {
      uint64_t m = max_u64 (vm_ws_max (v, bucket, sim_ws_ages_s[i]), prev);
      ws->bins[i].age_ms = (uint64_t) sim_ws_ages_s[i] * 1000u;
      ws->bins[i].anon_bytes = m - prev;
      ws->bins[i].file_bytes = 0;
      prev = m;
    }
  /* Open-ended: the guest's cold page cache. */
  ws->bins[SIM_WS_N_AGES].age_ms = 0;
  ws->bins[SIM_WS_N_AGES].anon_bytes = 0;
  ws->bins[SIM_WS_N_AGES].file_bytes = v->cache_eff;
}

static char *
json_quote (const char *s)
{
  json_t *j = json_string (s);
  char *out = j != NULL ? json_dumps (j, JSON_ENCODE_ANY) : NULL;
  json_decref (j);
  return out != NULL ? out : strdup ("\"?\"");
}

/* The snapshot array holds the VMs alive this tick, in VM order. */
static bool
sim_rebuild_snapshot (Sim *sim)
{
  size_t k = 0;
  for (size_t i = 0; i < sim->n; i++)
    {
      SimVm *v = &sim->vm[i];
      if (!v->alive)
        continue;
      PolicyVm *pv = &sim->snap_vms[k];
      memset (pv, 0, sizeof *pv);
      pv->id = v->id;
      pv->name = v->name;
      pv->cfg = v->spec->cfg;
      pv->ram_bytes = v->spec->ram_bytes;
      pv->balloon_free_page_reporting = sim->sc->free_page_reporting;
      v->snap_idx = k;
      sim->snap_of[k] = i;
      k++;
    }
  sim->n_snap = k;
  return true;
}

/* The page cache the guest holds: what it fills (read once, so what it was
 * asked to drop stays dropped) within what its balloon leaves it. */
static uint64_t
vm_cache_fill (const SimVm *v)
{
  uint64_t cache = v->spec->cache_bytes - min_u64 (v->cache_dropped, v->spec->cache_bytes);
  return min_u64 (cache, v->actual - v->touched);
}

static void
vm_start (Sim *sim, SimVm *v, uint64_t t, bool kick)
{
  const SimVmSpec *sp = v->spec;
  v->started = v->alive = true;
  v->start_ms = t;
  v->boot_until_ms = kick ? t + sp->boot_ms : t;
  v->kicks = kick ? (POLICY_KICK_CREATED | POLICY_KICK_STARTED) : 0;
  v->actual = sp->has_initial_actual ? sp->initial_actual_bytes : sp->ram_bytes;
  v->target = v->actual;
  v->target_issued = false;
  v->demand = sim_demand_at (&sp->demand, v->phase_ms, t, &v->cursor);
  v->touched = min_u64 (v->demand, v->actual);
  v->cache_dropped = 0;
  v->cache_eff = vm_cache_fill (v);
  /* A guest running from the start is already backed, by what the host has
   * free (the rest it must get like any other guest, or stall); a booting
   * one is not backed yet. */
  uint64_t ram = sim->sc->ram_bytes;
  sim->host_used += sim->sc->vm_overhead_bytes;
  uint64_t free_b = ram > sim->host_used ? ram - sim->host_used : 0;
  v->resident = kick ? 0 : min_u64 (v->touched + v->cache_eff, free_b);
  sim->host_used += v->resident;
  v->stats_valid = v->agent_valid = false;
}

static void
vm_stop (Sim *sim, SimVm *v)
{
  v->stopping = true;
  v->kicks |= POLICY_KICK_DESTROYED;
  sim->host_used -= min_u64 (sim->host_used, v->resident + sim->sc->vm_overhead_bytes);
  sim->ksm_saved -= fmin (sim->ksm_saved, v->merged_bytes);
  v->merged_bytes = 0;
  v->resident = 0;
}

/* The balloon over dt_ms toward its target: deflating is free; inflating
 * takes only what the guest can give (free memory and page cache, above its
 * watermarks). `d` is the guest's demand. Returns the ms of the interval the
 * guest waited for memory (dt_ms if the balloon did not cover `d`). */
static uint64_t
vm_balloon_step (const SimScenario *sc, SimVm *v, uint64_t d, uint64_t dt_ms)
{
  const SimVmSpec *sp = v->spec;
  double rate_per_ms = (double) sc->balloon_rate_bps / 1000.0;
  double doo_per_ms
      = (double) (sc->free_page_reporting ? sc->doo_rate_fpr_bps : sc->doo_rate_bps) / 1000.0;
  uint64_t move = (uint64_t) (rate_per_ms * (double) dt_ms);
  uint64_t before = v->actual;
  if (v->target > v->actual)
    v->actual = min_u64 (v->target, v->actual + move);
  else if (v->target < v->actual)
    {
      uint64_t keep = min_u64 (v->actual, d + sc->guest_keep_free_bytes);
      uint64_t lo = max_u64 (v->target, v->actual > move ? v->actual - move : 0);
      v->actual = max_u64 (lo, min_u64 (keep, v->actual));
      if (v->actual > before)
        v->actual = before;
    }
  uint64_t by_target = v->actual > before ? v->actual - before : 0;
  /* deflate-on-oom: the guest takes pages back from the balloon itself, at
   * its own (measured) rate, through the same device: together with the
   * controller's deflation never faster than the faster of the two. */
  uint64_t by_doo = 0;
  if (sp->deflate_on_oom && d > v->actual && v->actual < sp->ram_bytes)
    {
      uint64_t moved = v->actual > before ? v->actual - before : before - v->actual;
      uint64_t device = (uint64_t) (fmax (rate_per_ms, doo_per_ms) * (double) dt_ms);
      uint64_t room = device > moved ? device - moved : 0;
      uint64_t step = min_u64 (room, (uint64_t) (doo_per_ms * (double) dt_ms));
      uint64_t to
          = min_u64 (sp->ram_bytes, min_u64 (d + sc->guest_keep_free_bytes, v->actual + step));
      by_doo = to - v->actual;
      v->actual = to;
    }
  if (d > v->actual)
    return dt_ms;
  if (d <= before)
    return 0;
  /* The gap filled by the controller's deflation first, then by
   * deflate-on-oom, each at its rate. */
  double gap = (double) (d - before);
  double from_target = fmin (gap, (double) by_target);
  double from_doo = fmin (gap - from_target, (double) by_doo);
  double wait_ms = (rate_per_ms > 0.0 ? from_target / rate_per_ms : 0.0)
                   + (doo_per_ms > 0.0 ? from_doo / doo_per_ms : 0.0);
  return min_u64 (dt_ms, (uint64_t) wait_ms);
}

/* The host pages backing the guest after it touched min(d, actual) and filled
 * its cache; returns whether the host ran out before the guest's anon pages
 * were backed. */
static bool
vm_back (Sim *sim, SimVm *v, uint64_t d, uint64_t dt_ms)
{
  const SimScenario *sc = sim->sc;
  v->touched = min_u64 (d, v->actual);
  v->cache_eff = vm_cache_fill (v);
  uint64_t want = v->touched + v->cache_eff;
  /* The balloon returned pages to the host; free page reporting returns the
   * guest's free pages too. */
  uint64_t res = v->resident;
  if (res > v->actual)
    res = v->actual;
  if (sc->free_page_reporting && res > want)
    {
      /* Reporting hands freed pages back in passes (2 s apart, each taking a
       * share of the free lists), so the guest's free memory above what it
       * uses drains with a half-life, not at once. */
      if (sim->fpr_keep_dt_ms != dt_ms)
        {
          sim->fpr_keep_dt_ms = dt_ms;
          sim->fpr_keep = sc->fpr_half_life_ms > 0
                              ? pow (0.5, (double) dt_ms / (double) sc->fpr_half_life_ms)
                              : 0.0;
        }
      res = want + (uint64_t) ((double) (res - want) * sim->fpr_keep);
    }
  bool host_short = false;
  if (want > res)
    {
      uint64_t free_b = sc->ram_bytes > sim->host_used ? sc->ram_bytes - sim->host_used : 0;
      uint64_t grow = want - res;
      /* The guest's anon growth is what stalls; cache simply stays unfilled. */
      if (grow > free_b)
        {
          host_short = v->touched > res + free_b;
          grow = free_b;
        }
      res += grow;
    }
  sim->host_used = sim->host_used - min_u64 (sim->host_used, v->resident) + res;
  if (res < v->resident && v->resident > 0)
    {
      /* Pages leaving the guest were merged in proportion. */
      double keep = (double) res / (double) v->resident;
      sim->ksm_saved -= v->merged_bytes * (1.0 - keep);
      v->merged_bytes *= keep;
    }
  v->resident = res;
  return host_short;
}

/* Stall and OOM accounting of one step of `stall` ms out of dt. */
static void
vm_account_stall (const SimScenario *sc, SimVm *v, uint64_t stall, uint64_t d, bool host_short,
                  uint64_t dt_ms)
{
  v->stalled = stall > 0;
  v->stall_ms += stall;
  v->psi_total_us += stall * 1000u;
  if (stall > 0)
    {
      v->stall_run_ms += stall;
      if (v->stall_run_ms > sc->oom_grace_ms)
        {
          /* OOM kill: the workload dies; it asks again once its demand fell. */
          v->oom_kills++;
          if (host_short && d <= v->actual)
            v->host_oom_kills++;
          v->capped = true;
          v->cap = host_short ? v->resident : v->actual;
          v->stall_run_ms = 0;
        }
    }
  else
    v->stall_run_ms = 0;
  v->alive_ms += dt_ms;
}

/* Spike reaction bookkeeping: when the spike came, what it cost, when the
 * balloon met it. `raw` is the guest's uncapped demand. */
static void
vm_track_spike (SimVm *v, uint64_t t, uint64_t raw, uint64_t stall)
{
  const SimVmSpec *sp = v->spec;
  if (sp->demand.kind == SIM_DEMAND_SPIKE && !v->spike_on && t >= sp->demand.at_ms)
    {
      v->spike_on = true;
      v->spike_at_ms = t;
      v->res->spike_target_before_bytes = v->target;
      v->spike_demand = raw;
    }
  if (v->spike_on && !v->spike_met)
    {
      v->res->spike_stall_ms += stall;
      if (v->actual >= v->spike_demand)
        {
          v->spike_met = true;
          v->res->spike_met_ms = (int64_t) (t - v->spike_at_ms);
        }
    }
}

/* One VM over (t - dt, t]: balloon, guest demand, host backing, stall, OOM. */
static void
vm_step (Sim *sim, SimVm *v, uint64_t t, uint64_t dt_ms)
{
  const SimScenario *sc = sim->sc;
  uint64_t raw = sim_demand_at (&v->spec->demand, v->phase_ms, t, &v->cursor);
  if (v->capped && raw <= v->cap)
    v->capped = false;
  uint64_t d = v->capped ? min_u64 (raw, v->cap) : raw;
  v->demand = raw;
  /* Stall: the part of the interval the guest wanted more than it had. */
  uint64_t stall = vm_balloon_step (sc, v, d, dt_ms);

  bool host_short = vm_back (sim, v, d, dt_ms);
  if (host_short)
    stall = dt_ms;
  vm_account_stall (sc, v, stall, d, host_short, dt_ms);
  vm_track_spike (v, t, raw, stall);
}

/* KSM over dt: ksmd scans pages_to_scan per wake-up, sleeping sleep_millisecs
 * between; each full scan merges the not-yet-merged mergeable share. */
static void
sim_ksm_step (Sim *sim, uint64_t dt_ms)
{
  const SimScenario *sc = sim->sc;
  double mergeable_pages = sim->sum_resident / (double) SIM_PAGE_BYTES;
  double target = sim->sum_mergeable;
  if (sim->ksm_saved > target)
    sim->ksm_saved = target;
  if (!sc->ksm_present || sim->ksm_run == 0 || sim->ksm_pages == 0 || mergeable_pages < 1.0)
    return;
  double cycle_s = sim->ksm_sleep / 1000.0 + sim->ksm_pages * sc->ksm_ns_per_page / 1e9;
  if (cycle_s <= 0.0)
    cycle_s = 1e-6;
  double scanned = sim->ksm_pages * ((double) dt_ms / 1000.0) / cycle_s;
  sim->ksm_scanned += scanned;
  sim->ksm_cpu_ns += scanned * sc->ksm_ns_per_page;
  double frac = fmin (1.0, scanned / mergeable_pages);
  double gain = (target - sim->ksm_saved) * frac;
  sim->ksm_cursor += scanned;
  if (sim->ksm_cursor >= mergeable_pages)
    {
      sim->ksm_full_scans += (uint64_t) (sim->ksm_cursor / mergeable_pages);
      sim->ksm_cursor = fmod (sim->ksm_cursor, mergeable_pages);
    }
  if (gain <= 0.0 || target <= 0.0)
    return;
  sim->ksm_saved += gain;
  /* Spread the gain over the VMs by their mergeable share. */
  for (size_t i = 0; i < sim->n; i++)
    {
      SimVm *v = &sim->vm[i];
      if (v->alive && !v->stopping && v->spec->cfg.ksm)
        v->merged_bytes += gain * (v->spec->ksm_fraction * (double) v->resident) / target;
    }
  sim->host_used -= min_u64 (sim->host_used, (uint64_t) gain);
}

static void
sim_fill_snapshot (Sim *sim, uint64_t t, PolicySnapshot *s)
{
  const SimScenario *sc = sim->sc;
  uint64_t bucket = t / SIM_WS_BUCKET_MS;
  uint64_t overhead = 0;
  for (size_t k = 0; k < sim->n_snap; k++)
    {
      SimVm *v = &sim->vm[sim->snap_of[k]];
      PolicyVm *pv = &sim->snap_vms[k];
      const SimVmSpec *sp = v->spec;
      bool booting = t < v->boot_until_ms;
      overhead += sc->vm_overhead_bytes;
      pv->kicks = v->kicks;
      pv->state = v->stopping ? POLICY_VM_STATE_STOPPING
                  : booting   ? POLICY_VM_STATE_STARTING
                              : POLICY_VM_STATE_RUNNING;
      pv->actual_bytes = (PolicyStat){ true, v->actual };
      pv->last_target_bytes = (PolicyStat){ v->target_issued, v->target };
      pv->pss_bytes
          = (PolicyStat){ true, v->resident - min_u64 (v->resident, (uint64_t) v->merged_bytes)
                                    + sc->vm_overhead_bytes };
      pv->rss_bytes = (PolicyStat){ true, v->resident + sc->vm_overhead_bytes };
      pv->ksm_merging_pages = (PolicyStat){ true, (uint64_t) v->merged_bytes / SIM_PAGE_BYTES };
      if (booting || v->stopping)
        {
          memset (&pv->stats, 0, sizeof pv->stats);
          memset (&pv->ws, 0, sizeof pv->ws);
          memset (&pv->agent, 0, sizeof pv->agent);
          continue;
        }
      /* Guest stats, refreshed every stats period (phase spread by VM id). */
      uint64_t since_start = t - v->boot_until_ms;
      if (!v->stats_valid || (since_start + v->id * 997u) % sp->stats_period_ms < sim->sc->tick_ms)
        {
          v->stats_valid = true;
          v->stats_at_ms = t;
          memset (&v->stats, 0, sizeof v->stats);
          v->stats.total_bytes = (PolicyStat){ true, v->actual };
          v->stats.available_bytes = (PolicyStat){ true, v->actual - v->touched };
          v->stats.free_bytes = (PolicyStat){ true, v->actual - v->touched - v->cache_eff };
          v->stats.disk_caches_bytes = (PolicyStat){ true, v->cache_eff };
          if (v->spike_on && !v->spike_visible
              && v->touched >= min_u64 (v->spike_demand, v->actual))
            v->spike_visible = true;
        }
      pv->stats = v->stats;
      pv->stats.age_ms = t - v->stats_at_ms;
      if (!sp->agent)
        {
          sim->blind_vm_ticks += !pv->stats.total_bytes.present;
          continue;
        }
      pv->agent.present = true;
      pv->agent.can_reclaim = sp->agent_reclaim;
      pv->agent.urgent = v->stalled;
      pv->agent.oom_kills = v->oom_kills;
      if (v->stalled && v->spike_on)
        v->spike_visible = true;
      if (!v->agent_valid || (since_start + v->id * 1009u) % sp->agent_period_ms < sim->sc->tick_ms)
        {
          v->agent_valid = true;
          v->agent_at_ms = t;
          vm_fill_ws (v, bucket, &v->ws_report);
          v->psi_reported_us = v->psi_total_us;
          v->psi_avg10_pct = v->stalled ? 100.0 : 0.0;
          if (v->spike_on && v->touched >= min_u64 (v->spike_demand, v->actual))
            v->spike_visible = true;
        }
      pv->ws = v->ws_report;
      pv->agent.psi_some_total_us = v->psi_reported_us;
      pv->agent.psi_some_avg10_pct = v->psi_avg10_pct;
      pv->ws.age_ms = t - v->agent_at_ms;
      pv->agent.age_ms = pv->ws.age_ms;
      if (!pv->stats.total_bytes.present || (sp->agent && pv->ws.n_bins == 0))
        sim->blind_vm_ticks++;
    }
  memset (s, 0, sizeof *s);
  s->now_ms = t;
  s->host.mem_total_bytes = sc->ram_bytes;
  s->host.mem_available_bytes = sc->ram_bytes - min_u64 (sc->ram_bytes, sim->host_used);
  s->host.mem_free_bytes = s->host.mem_available_bytes;
  s->host.non_vm_used_bytes = (PolicyStat){ true, sc->non_vm_bytes + overhead };
  s->ksm.present = sc->ksm_present;
  s->ksm.page_size_bytes = SIM_PAGE_BYTES;
  s->ksm.pages_sharing = (uint64_t) sim->ksm_saved / SIM_PAGE_BYTES;
  s->ksm.pages_shared = s->ksm.pages_sharing / 4; /* nominal: no policy here reads it */
  s->ksm.pages_scanned = (uint64_t) sim->ksm_scanned;
  s->ksm.full_scans = sim->ksm_full_scans;
  s->ksm.run = sim->ksm_run;
  s->ksm.pages_to_scan = sim->ksm_pages;
  s->ksm.sleep_millisecs = sim->ksm_sleep;
  s->ksm.advisor_mode = POLICY_KSM_ADVISOR_ABSENT;
  s->ksm.ksmd_cpu_ns = (PolicyStat){ true, (uint64_t) sim->ksm_cpu_ns };
  s->n_vms = sim->n_snap;
  s->vms = sim->snap_vms;
}

static void
sim_apply_ksm (Sim *sim, const PolicyKsmDecision *k)
{
  if (k->set_run)
    sim->ksm_run = k->run;
  if (k->set_pages_to_scan)
    sim->ksm_pages = k->pages_to_scan;
  if (k->set_sleep_millisecs)
    sim->ksm_sleep = k->sleep_millisecs;
  sim->ksm_state = k->state;
  sim->ksm_reason = k->reason;
}

static void
sim_write_tick (Sim *sim, uint64_t t, FILE *f)
{
  const SimScenario *sc = sim->sc;
  fprintf (f,
           "{\"t_ms\":%llu,\"host_used_bytes\":%llu,\"host_free_bytes\":%llu,"
           "\"ksm\":{\"state\":\"%s\",\"run\":%u,\"pages_to_scan\":%u,\"sleep_millisecs\":%u,"
           "\"saved_bytes\":%llu,\"cpu_s\":%.3f,\"reason\":\"%s\"},\"vms\":[",
           (unsigned long long) t, (unsigned long long) sim->host_used,
           (unsigned long long) (sc->ram_bytes - min_u64 (sc->ram_bytes, sim->host_used)),
           policy_ksm_state_name (sim->ksm_state), sim->ksm_run, sim->ksm_pages, sim->ksm_sleep,
           (unsigned long long) sim->ksm_saved, sim->ksm_cpu_ns / 1e9,
           sim->ksm_reason != NULL ? sim->ksm_reason : "");
  bool first = true;
  for (size_t k = 0; k < sim->n_snap; k++)
    {
      const SimVm *v = &sim->vm[sim->snap_of[k]];
      fprintf (f,
               "%s{\"name\":%s,\"target_bytes\":%llu,\"actual_bytes\":%llu,\"need_bytes\":%llu,"
               "\"demand_bytes\":%llu,\"resident_bytes\":%llu,\"stalled\":%s,\"reason\":\"%s\"}",
               first ? "" : ",", v->name_json, (unsigned long long) v->target,
               (unsigned long long) v->actual, (unsigned long long) v->need,
               (unsigned long long) v->demand, (unsigned long long) v->resident,
               v->stalled ? "true" : "false", v->reason != NULL ? v->reason : "");
      first = false;
    }
  fputs ("]}\n", f);
}

static void
sim_free (Sim *sim)
{
  /* After a failed allocation the VM array may be missing. */
  for (size_t i = 0; sim->vm != NULL && i < sim->n; i++)
    {
      free (sim->vm[i].name);
      free (sim->vm[i].name_json);
    }
  free (sim->vm);
  free (sim->snap_vms);
  free (sim->snap_of);
  free (sim->dec_vms);
  free (sim->kdec_vms);
  policy_carry_free (sim->bcarry);
  policy_carry_free (sim->kcarry);
}

/* A policy that does nothing: every target stays, KSM is left alone. */
static int
sim_policy_none (const PolicySnapshot *s, const PolicyConfig *c, PolicyCarry *carry,
                 PolicyDecision *out)
{
  (void) c;
  (void) carry;
  out->n_vms = s->n_vms;
  memset (&out->ksm, 0, sizeof out->ksm);
  out->ksm.reason = "none";
  out->ksm.state = POLICY_KSM_IDLE;
  for (size_t i = 0; i < s->n_vms; i++)
    {
      memset (&out->vms[i], 0, sizeof out->vms[i]);
      out->vms[i].id = s->vms[i].id;
      out->vms[i].target_bytes = s->vms[i].last_target_bytes.present
                                     ? s->vms[i].last_target_bytes.value
                                     : s->vms[i].actual_bytes.value;
      out->vms[i].reason = "none";
    }
  return 0;
}

static PolicyDecideFn
sim_lookup (const char *name)
{
  if (name != NULL && strcmp (name, "none") == 0)
    return sim_policy_none;
  return policy_lookup (name);
}

/* The balloon and KSM policies by name: KSM follows the balloon policy unless
 * named ("auto": ballast's and mom's own, none for the others). */
static int
sim_resolve_policies (Sim *sim, const SimOptions *opt, char **error)
{
  const char *pname = opt->policy != NULL ? opt->policy : "ballast";
  const char *kname = opt->ksm_policy;
  if (kname == NULL || strcmp (kname, "auto") == 0)
    kname = strcmp (pname, "ballast") == 0 || strcmp (pname, "mom") == 0 ? pname : "none";
  sim->bfn = sim_lookup (pname);
  sim->kfn = sim_lookup (kname);
  if (sim->bfn == NULL || sim->kfn == NULL)
    {
      sim_set_error (error, "unknown policy \"%s\"", sim->bfn == NULL ? pname : kname);
      return -1;
    }
  if (strcmp (pname, "proxmox") != 0 && strcmp (kname, "proxmox") == 0)
    {
      sim_set_error (error, "proxmox is not a KSM policy");
      return -1;
    }
  sim->bname = pname;
  sim->kname = kname;
  sim->kfn_is_bfn = strcmp (pname, kname) == 0;
  return 0;
}

/* The per-VM arrays (one spare slot, so none is empty) and the carries; the
 * caller frees what was allocated with sim_free () and res->vms with
 * sim_result_clear (). */
static int
sim_alloc (Sim *sim, SimResult *res)
{
  for (size_t i = 0; i < sim->sc->n_specs; i++)
    sim->n += sim->sc->specs[i].count;
  sim->vm = calloc (sim->n + 1, sizeof *sim->vm);
  sim->snap_vms = calloc (sim->n + 1, sizeof *sim->snap_vms);
  sim->snap_of = calloc (sim->n + 1, sizeof *sim->snap_of);
  sim->dec_vms = calloc (sim->n + 1, sizeof *sim->dec_vms);
  sim->kdec_vms = calloc (sim->n + 1, sizeof *sim->kdec_vms);
  res->vms = calloc (sim->n + 1, sizeof *res->vms);
  sim->bcarry = policy_carry_new ();
  sim->kcarry = policy_carry_new ();
  if (sim->vm == NULL || sim->snap_vms == NULL || sim->snap_of == NULL || sim->dec_vms == NULL
      || sim->kdec_vms == NULL || res->vms == NULL || sim->bcarry == NULL || sim->kcarry == NULL)
    return -1;
  res->n_vms = sim->n;
  sim->dec.vms = sim->dec_vms;
  sim->kdec.vms = sim->kdec_vms;
  return 0;
}

/* Every VM of every group: its id, name, result slot and demand phase. */
static void
sim_layout_vms (Sim *sim, SimResult *res)
{
  const SimScenario *sc = sim->sc;
  uint64_t rng = sc->seed;
  size_t idx = 0;
  for (size_t g = 0; g < sc->n_specs; g++)
    {
      const SimVmSpec *sp = &sc->specs[g];
      for (uint32_t j = 0; j < sp->count; j++, idx++)
        {
          SimVm *v = &sim->vm[idx];
          v->spec = sp;
          v->id = idx + 1;
          if (sp->count == 1 && asprintf (&v->name, "%s", sp->name) < 0)
            v->name = NULL;
          else if (sp->count != 1 && asprintf (&v->name, "%s-%u", sp->name, j) < 0)
            v->name = NULL;
          if (v->name == NULL)
            v->name = strdup ("?");
          v->name_json = json_quote (v->name);
          v->res = &res->vms[idx];
          v->res->name = strdup (v->name);
          v->res->spike_visible_ms = v->res->spike_raise_ms = v->res->spike_met_ms = -1;
          const SimDemand *d = &sp->demand;
          if (d->kind == SIM_DEMAND_BURSTY)
            v->phase_ms = d->phase_set ? d->phase_ms + j * d->phase_step_ms
                                       : sim_rand (&rng) % d->period_ms;
        }
    }
}

/* Lifecycle at t: VMs that left last tick are gone; starts and stops. */
static void
sim_lifecycle (Sim *sim, uint64_t t)
{
  bool changed = t == 0;
  for (size_t i = 0; i < sim->n; i++)
    {
      SimVm *v = &sim->vm[i];
      v->kicks = 0;
      if (v->stopping && v->alive)
        {
          v->alive = false;
          v->gone = true;
          changed = true;
          continue;
        }
      if (!v->started && (!v->spec->has_start || t >= v->spec->start_ms))
        {
          vm_start (sim, v, t, v->spec->has_start);
          changed = true;
        }
      else if (v->alive && !v->stopping && v->spec->has_stop && t >= v->spec->stop_ms)
        vm_stop (sim, v);
    }
  if (changed)
    sim_rebuild_snapshot (sim);
}

/* Clears the working-set buckets the clock moved into. */
static void
sim_advance_buckets (Sim *sim, uint64_t bucket)
{
  if (bucket == sim->bucket_now)
    return;
  for (uint64_t b = sim->bucket_now + 1; b <= bucket && b <= sim->bucket_now + SIM_WS_BUCKETS; b++)
    for (size_t i = 0; i < sim->n; i++)
      sim->vm[i].ws[b % SIM_WS_BUCKETS] = 0;
  sim->bucket_now = bucket;
}

/* The world over (t - dt, t]: every running VM, then ksmd, then the host. */
static void
sim_world_step (Sim *sim, uint64_t t, uint64_t dt)
{
  const SimScenario *sc = sim->sc;
  uint64_t bucket = t / SIM_WS_BUCKET_MS;
  sim_advance_buckets (sim, bucket);
  double sum_resident = 0.0, sum_mergeable = 0.0;
  uint64_t sum_actual = 0;
  size_t n_alive = sim->n_snap;
  /* A rotating order, so that no VM is always first to the host's last free
   * pages. */
  for (size_t k = 0; k < n_alive; k++)
    {
      SimVm *v = &sim->vm[sim->snap_of[(k + sim->rot) % n_alive]];
      if (!v->stopping && dt > 0)
        vm_step (sim, v, t, dt);
      vm_ws_touch (v, bucket);
      sum_actual += v->stopping ? 0 : v->actual;
      sum_resident += (double) v->resident;
      if (v->spec->cfg.ksm && !v->stopping)
        sum_mergeable += v->spec->ksm_fraction * (double) v->resident;
    }
  sim->rot++;
  sim->sum_actual = sum_actual;
  sim->sum_resident = sum_resident;
  sim->sum_mergeable = sum_mergeable;
  sim_ksm_step (sim, dt);
  /* Host used, exactly: the incremental count above only ranks who gets
   * the last free pages within the tick. */
  double used = (double) sc->non_vm_bytes + (double) sc->vm_overhead_bytes * (double) n_alive
                + sum_resident - sim->ksm_saved;
  sim->host_used = used > 0.0 ? (uint64_t) used : 0;
}

/* The balloon policy and, if it is another one, the KSM policy on this tick's
 * snapshot; *kd is the KSM decision to apply. */
static int
sim_decide (Sim *sim, uint64_t t, const PolicyKsmDecision **kd, char **error)
{
  const PolicyConfig *cfg = &sim->sc->config;
  PolicySnapshot snap;
  sim_fill_snapshot (sim, t, &snap);
  if (sim->bfn (&snap, cfg, sim->bcarry, &sim->dec) != 0)
    {
      sim_set_error (error, "policy %s failed at t=%llu ms", sim->bname, (unsigned long long) t);
      return -1;
    }
  *kd = &sim->dec.ksm;
  if (sim->kfn_is_bfn)
    return 0;
  if (sim->kfn (&snap, cfg, sim->kcarry, &sim->kdec) != 0)
    {
      sim_set_error (error, "policy %s failed at t=%llu ms", sim->kname, (unsigned long long) t);
      return -1;
    }
  *kd = &sim->kdec.ksm;
  return 0;
}

/* The balloon decisions: new targets, and when a spike became visible to the
 * policy and when it first raised the target. */
static void
sim_apply_vms (Sim *sim, uint64_t t, SimResult *res)
{
  for (size_t k = 0; k < sim->n_snap; k++)
    {
      SimVm *v = &sim->vm[sim->snap_of[k]];
      const PolicyVmDecision *d = &sim->dec.vms[k];
      v->reason = d->reason;
      v->need = d->need_bytes;
      if (v->spike_on && v->stalled)
        v->spike_visible = true;
      if (v->spike_on && v->spike_visible && v->res->spike_visible_ms < 0)
        v->res->spike_visible_ms = (int64_t) (t - v->spike_at_ms);
      if (d->reclaim_bytes > 0 && !v->stopping)
        v->cache_dropped
            = min_u64 (v->spec->cache_bytes,
                       v->cache_dropped + min_u64 (d->reclaim_bytes, v->cache_eff));
      if (!d->set_target || v->stopping)
        continue;
      if (v->spike_on && !v->spike_met && d->target_bytes > v->target)
        {
          if (v->res->spike_raise_ms < 0)
            {
              v->res->spike_raise_ms = (int64_t) (t - v->spike_at_ms);
              v->res->spike_first_raise_bytes = d->target_bytes - v->target;
            }
          v->res->spike_raises++;
        }
      v->target = d->target_bytes;
      v->target_issued = true;
      res->targets_issued++;
    }
}

/* One tick at t, dt after the last: lifecycle, the world, the decisions and
 * their effect, the tick line, the running sums. */
static int
sim_tick (Sim *sim, uint64_t t, uint64_t dt, const SimOptions *opt, SimResult *res, char **error)
{
  sim_lifecycle (sim, t);
  sim_world_step (sim, t, dt);
  const PolicyKsmDecision *kd;
  if (sim_decide (sim, t, &kd, error) != 0)
    return -1;
  sim_apply_ksm (sim, kd);
  sim_apply_vms (sim, t, res);
  uint32_t every = opt->ticks_every > 0 ? opt->ticks_every : 1;
  if (opt->ticks != NULL && (res->ticks % every) == 0)
    sim_write_tick (sim, t, opt->ticks);

  res->ticks++;
  res->sim_ms += dt;
  uint64_t free_b = sim->sc->ram_bytes - min_u64 (sim->sc->ram_bytes, sim->host_used);
  res->min_host_free_bytes = min_u64 (res->min_host_free_bytes, free_b);
  if (free_b < res->reserve_bytes)
    res->reserve_breach_ms += dt;
  sim->tot_used += (double) sim->host_used;
  res->peak_host_used_bytes = max_u64 (res->peak_host_used_bytes, sim->host_used);
  sim->tot_actual += (double) sim->sum_actual;
  sim->tot_resident += sim->sum_resident;
  sim->tot_saved += sim->ksm_saved;
  return 0;
}

/* The run's totals and means, per VM and over the fleet. */
static void
sim_summarize (const Sim *sim, SimResult *res)
{
  for (size_t i = 0; i < sim->n; i++)
    {
      const SimVm *v = &sim->vm[i];
      v->res->stall_ms = v->stall_ms;
      v->res->oom_kills = v->oom_kills;
      v->res->alive_ms = v->alive_ms;
      res->stall_ms += v->stall_ms;
      res->oom_kills += v->oom_kills;
      res->host_oom_kills += v->host_oom_kills;
      res->vm_ms += v->alive_ms;
    }
  double nt = res->ticks > 0 ? (double) res->ticks : 1.0;
  res->stall_pct = res->vm_ms > 0 ? (double) res->stall_ms * 100.0 / (double) res->vm_ms : 0.0;
  res->mean_host_used_bytes = sim->tot_used / nt;
  res->mean_sum_actual_bytes = sim->tot_actual / nt;
  res->mean_sum_resident_bytes = sim->tot_resident / nt;
  res->mean_ksm_saved_bytes = sim->tot_saved / nt;
  res->ksm_cpu_s = sim->ksm_cpu_ns / 1e9;
  res->ksm_cpu_pct = res->sim_ms > 0 ? res->ksm_cpu_s * 1e5 / (double) res->sim_ms : 0.0;
  res->ksm_saved_bytes = (uint64_t) sim->ksm_saved;
  res->blind_vm_ticks = sim->blind_vm_ticks;
}

int
sim_run (const SimScenario *sc, const SimOptions *opt, SimResult *res, char **error)
{
  memset (res, 0, sizeof *res);
  Sim sim = { .sc = sc, .fpr_keep_dt_ms = UINT64_MAX };
  if (sim_resolve_policies (&sim, opt, error) != 0)
    return -1;
  if (sim_alloc (&sim, res) != 0)
    {
      sim_set_error (error, "out of memory");
      sim_free (&sim);
      return -1;
    }
  sim.ksm_run = sc->ksm_run;
  sim.ksm_pages = sc->ksm_pages_to_scan;
  sim.ksm_sleep = sc->ksm_sleep_ms;
  sim.host_used = sc->non_vm_bytes;
  res->reserve_bytes = policy_host_reserve_bytes (&sc->config, sc->ram_bytes);
  res->min_host_free_bytes = sc->ram_bytes;
  sim_layout_vms (&sim, res);

  uint64_t tick = sc->tick_ms > 0 ? sc->tick_ms : 1000;
  for (uint64_t t = 0; t <= sc->duration_ms; t += tick)
    if (sim_tick (&sim, t, t == 0 ? 0 : tick, opt, res, error) != 0)
      {
        sim_free (&sim);
        return -1;
      }
  sim_summarize (&sim, res);
  sim_free (&sim);
  return 0;
}

void
sim_result_clear (SimResult *res)
{
  if (res == NULL)
    return;
  for (size_t i = 0; i < res->n_vms; i++)
    free (res->vms[i].name);
  free (res->vms);
  memset (res, 0, sizeof *res);
}

bool
sim_result_fits (const SimResult *res, double stall_pct)
{
  return res->oom_kills == 0 && res->stall_pct < stall_pct
         && res->min_host_free_bytes >= res->reserve_bytes;
}

void
sim_result_write (const SimResult *res, const SimOptions *opt, bool per_vm, FILE *f)
{
  json_t *o = json_object ();
  json_object_set_new (o, "summary", json_true ());
  json_object_set_new (o, "policy", json_string (opt->policy != NULL ? opt->policy : "ballast"));
  json_object_set_new (o, "ksm_policy",
                       json_string (opt->ksm_policy != NULL ? opt->ksm_policy : "auto"));
  json_object_set_new (o, "vms", json_integer ((json_int_t) res->n_vms));
  json_object_set_new (o, "ticks", json_integer ((json_int_t) res->ticks));
  json_object_set_new (o, "oom_kills", json_integer ((json_int_t) res->oom_kills));
  json_object_set_new (o, "host_oom_kills", json_integer ((json_int_t) res->host_oom_kills));
  json_object_set_new (o, "stall_ms", json_integer ((json_int_t) res->stall_ms));
  json_object_set_new (o, "stall_pct", json_real (res->stall_pct));
  json_object_set_new (o, "mean_host_used_bytes",
                       json_integer ((json_int_t) res->mean_host_used_bytes));
  json_object_set_new (o, "peak_host_used_bytes",
                       json_integer ((json_int_t) res->peak_host_used_bytes));
  json_object_set_new (o, "mean_sum_actual_bytes",
                       json_integer ((json_int_t) res->mean_sum_actual_bytes));
  json_object_set_new (o, "mean_sum_resident_bytes",
                       json_integer ((json_int_t) res->mean_sum_resident_bytes));
  json_object_set_new (o, "ksm_cpu_s", json_real (res->ksm_cpu_s));
  json_object_set_new (o, "ksm_cpu_pct", json_real (res->ksm_cpu_pct));
  json_object_set_new (o, "ksm_saved_bytes", json_integer ((json_int_t) res->ksm_saved_bytes));
  json_object_set_new (o, "mean_ksm_saved_bytes",
                       json_integer ((json_int_t) res->mean_ksm_saved_bytes));
  json_object_set_new (o, "targets_issued", json_integer ((json_int_t) res->targets_issued));
  json_object_set_new (o, "blind_vm_ticks", json_integer ((json_int_t) res->blind_vm_ticks));
  json_object_set_new (o, "reserve_bytes", json_integer ((json_int_t) res->reserve_bytes));
  json_object_set_new (o, "min_host_free_bytes",
                       json_integer ((json_int_t) res->min_host_free_bytes));
  json_object_set_new (o, "reserve_breach_ms", json_integer ((json_int_t) res->reserve_breach_ms));
  if (res->wall_s > 0.0)
    json_object_set_new (o, "wall_s", json_real (res->wall_s));
  json_t *arr = json_array ();
  for (size_t i = 0; i < res->n_vms; i++)
    {
      const SimVmResult *v = &res->vms[i];
      bool spike = v->spike_visible_ms >= 0 || v->spike_raise_ms >= 0 || v->spike_met_ms >= 0;
      if (!per_vm && !spike)
        continue;
      json_t *vo = json_object ();
      json_object_set_new (vo, "name", json_string (v->name));
      json_object_set_new (vo, "stall_ms", json_integer ((json_int_t) v->stall_ms));
      json_object_set_new (vo, "oom_kills", json_integer ((json_int_t) v->oom_kills));
      if (spike)
        {
          json_t *so = json_object ();
          json_object_set_new (so, "visible_ms", json_integer (v->spike_visible_ms));
          json_object_set_new (so, "raise_ms", json_integer (v->spike_raise_ms));
          json_object_set_new (so, "target_before_bytes",
                               json_integer ((json_int_t) v->spike_target_before_bytes));
          json_object_set_new (so, "first_raise_bytes",
                               json_integer ((json_int_t) v->spike_first_raise_bytes));
          json_object_set_new (so, "raises", json_integer (v->spike_raises));
          json_object_set_new (so, "met_ms", json_integer (v->spike_met_ms));
          json_object_set_new (so, "stall_ms", json_integer ((json_int_t) v->spike_stall_ms));
          json_object_set_new (vo, "spike", so);
        }
      json_array_append_new (arr, vo);
    }
  json_object_set_new (o, "per_vm", arr);
  char *s = json_dumps (o, JSON_COMPACT);
  if (s != NULL)
    {
      fputs (s, f);
      fputc ('\n', f);
      free (s);
    }
  json_decref (o);
}
