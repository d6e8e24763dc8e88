// Process controls Swift's Glibc module does not export (prctl(2), adjtimex(2)).
#ifndef TAPD_CPROCESS_H
#define TAPD_CPROCESS_H

/// Clears the process's dumpable flag (PR_SET_DUMPABLE 0): no core dump, no ptrace attach by other users.
/// Returns 0 on success, -1 with errno set.
int tapd_set_not_dumpable(void);

/// The dumpable flag (PR_GET_DUMPABLE): 1 dumpable, 0 not, -1 on error.
int tapd_dumpable(void);

/// The kernel's view of the system clock (adjtimex(2), read only): its maximum error in microseconds and whether
/// it is unsynchronised (no NTP discipline: STA_UNSYNC or TIME_ERROR). Returns 0, or -1 with errno set.
int tapd_clock_state(long *max_error_us, int *unsynchronised);

#endif
