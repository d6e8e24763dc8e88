#include "CProcess.h"
#include <sys/prctl.h>
#include <sys/timex.h>

int tapd_set_not_dumpable(void) { return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0); }
int tapd_dumpable(void) { return prctl(PR_GET_DUMPABLE, 0, 0, 0, 0); }

int tapd_clock_state(long *max_error_us, int *unsynchronised) {
    struct timex t = {0};
    int state = adjtimex(&t);
    if (state < 0) return -1;
    *max_error_us = t.maxerror;
    *unsynchronised = (state == TIME_ERROR || (t.status & STA_UNSYNC)) ? 1 : 0;
    return 0;
}
