#include "CProcess.h"
#include <sys/prctl.h>

int tapd_set_not_dumpable(void) { return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0); }
int tapd_dumpable(void) { return prctl(PR_GET_DUMPABLE, 0, 0, 0, 0); }
