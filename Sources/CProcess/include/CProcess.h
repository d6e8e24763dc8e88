// Process controls Swift's Glibc module does not export (prctl(2)).
#ifndef TAPD_CPROCESS_H
#define TAPD_CPROCESS_H

/// Clears the process's dumpable flag (PR_SET_DUMPABLE 0): no core dump, no ptrace attach by other users.
/// Returns 0 on success, -1 with errno set.
int tapd_set_not_dumpable(void);

/// The dumpable flag (PR_GET_DUMPABLE): 1 dumpable, 0 not, -1 on error.
int tapd_dumpable(void);

#endif
