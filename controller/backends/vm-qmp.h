/* vm-qmp.h: the QMP backend of a VM (qmp-dir and static VMs): one QMP
 * connection per VM, negotiated, sampled and actuated on the main loop. */
#pragma once

#include "vm.h"

/* A VM driven over its QMP socket `qmp_path`; `agent_path` may be NULL. */
Vm *vm_qmp_new (const VmOwner *owner, const char *name, const char *backend, const char *qmp_path,
                const char *agent_path);
