/* carry.c: PolicyCarry storage: per-VM slots keyed by VM id in an open-addressed
 * table that survives VMs appearing and disappearing, scratch buffers, ref slots. */
#include "carry.h"

#include <stdlib.h>
#include <string.h>

/* Smallest table; the load factor stays at or below one half. */
#define CARRY_MIN_SLOTS 16u

static uint64_t
carry_hash (uint64_t id)
{
  /* splitmix64 finalizer: ids are often small consecutive integers. */
  id ^= id >> 30;
  id *= 0xbf58476d1ce4e5b9ull;
  id ^= id >> 27;
  id *= 0x94d049bb133111ebull;
  id ^= id >> 31;
  return id;
}

PolicyCarry *
policy_carry_new (void)
{
  return calloc (1, sizeof (PolicyCarry));
}

void
policy_carry_free (PolicyCarry *carry)
{
  if (carry == NULL)
    return;
  if (carry->ref_state != NULL && carry->ref_state_free != NULL)
    carry->ref_state_free (carry->ref_state);
  free (carry->slots);
  free (carry->scratch);
  free (carry);
}

static PolicyVmCarry *
carry_probe (PolicyVmCarry *slots, size_t n_slots, uint64_t id)
{
  size_t mask = n_slots - 1;
  size_t i = (size_t) carry_hash (id) & mask;
  for (;;)
    {
      if (!slots[i].used || slots[i].id == id)
        return &slots[i];
      i = (i + 1) & mask;
    }
}

/* Moves every used slot (or only those seen this tick) into a new table of
 * `n_slots` entries. Returns false on allocation failure (table unchanged). */
static bool
carry_rehash (PolicyCarry *carry, size_t n_slots, bool only_seen)
{
  PolicyVmCarry *slots = calloc (n_slots, sizeof (PolicyVmCarry));
  if (slots == NULL)
    return false;
  size_t n_used = 0;
  for (size_t i = 0; i < carry->n_slots; i++)
    {
      const PolicyVmCarry *old = &carry->slots[i];
      if (!old->used || (only_seen && old->seen_gen != carry->gen))
        continue;
      *carry_probe (slots, n_slots, old->id) = *old;
      n_used++;
    }
  free (carry->slots);
  carry->slots = slots;
  carry->n_slots = n_slots;
  carry->n_used = n_used;
  return true;
}

bool
policy_carry_begin_tick (PolicyCarry *carry, size_t n_vms, uint64_t now_ms)
{
  if (carry == NULL)
    return false;
  carry->gen++;
  carry->n_seen = 0;
  /* Worst case every VM of this snapshot is new: keep load <= 1/2 then. */
  size_t want = carry->n_used;
  if (n_vms > SIZE_MAX / 4 - want)
    return false;
  want = 2 * (want + n_vms);
  if (want > carry->n_slots || carry->slots == NULL)
    {
      size_t n = CARRY_MIN_SLOTS;
      while (n < want)
        n *= 2;
      if (!carry_rehash (carry, n, false))
        return false;
    }
  (void) now_ms;
  return true;
}

PolicyVmCarry *
policy_carry_vm (PolicyCarry *carry, uint64_t id, bool *is_new)
{
  if (is_new != NULL)
    *is_new = false;
  if (carry == NULL || carry->slots == NULL)
    return NULL;
  /* Beyond the room begin_tick made, refuse rather than fill the table. */
  PolicyVmCarry *slot = carry_probe (carry->slots, carry->n_slots, id);
  if (!slot->used)
    {
      if (2 * (carry->n_used + 1) > carry->n_slots)
        return NULL;
      memset (slot, 0, sizeof *slot);
      slot->used = true;
      slot->id = id;
      carry->n_used++;
      if (is_new != NULL)
        *is_new = true;
    }
  if (slot->seen_gen != carry->gen)
    {
      slot->seen_gen = carry->gen;
      carry->n_seen++;
    }
  return slot;
}

PolicyVmCarry *
policy_carry_vm_find (PolicyCarry *carry, uint64_t id)
{
  if (carry == NULL || carry->slots == NULL)
    return NULL;
  PolicyVmCarry *slot = carry_probe (carry->slots, carry->n_slots, id);
  return slot->used ? slot : NULL;
}

void
policy_carry_end_tick (PolicyCarry *carry)
{
  if (carry == NULL || carry->slots == NULL)
    return;
  if (carry->n_seen < carry->n_used)
    {
      /* Some VMs are gone. On allocation failure they stay (harmless: a
       * returning VM then resumes its old state). */
      (void) carry_rehash (carry, carry->n_slots, true);
    }
}

void *
policy_carry_scratch (PolicyCarry *carry, size_t bytes)
{
  if (carry == NULL)
    return NULL;
  if (bytes == 0)
    bytes = 1;
  if (bytes > carry->scratch_bytes)
    {
      void *p = realloc (carry->scratch, bytes);
      if (p == NULL)
        return NULL;
      carry->scratch = p;
      carry->scratch_bytes = bytes;
    }
  return carry->scratch;
}

void
policy_carry_set_ref_state (PolicyCarry *carry, void *state, void (*free_fn) (void *))
{
  if (carry == NULL)
    return;
  if (carry->ref_state != NULL && carry->ref_state != state && carry->ref_state_free != NULL)
    carry->ref_state_free (carry->ref_state);
  carry->ref_state = state;
  carry->ref_state_free = free_fn;
}
