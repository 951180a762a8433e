/*
 * cmd_drill.c: `pgwardenctl drill KIND` (drill.h).
 */
#include "ctl/ctl_int.h"
#include "ctl/drill.h"

int
cmd_drill(CtlGlobal *g, const CtlArgs *a)
{
	(void) g;
	(void) a;
	ctl_fail("%s", "drill: not implemented yet");
	return CTL_EXIT_FAILED;
}
