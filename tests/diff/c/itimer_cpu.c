/* ITIMER_VIRTUAL and ITIMER_PROF: they count the process's CPU time, fire
 * SIGVTALRM and SIGPROF while it computes (never while it sleeps), repeat
 * with an interval, and report what is left. */
#include "proc.h"

static volatile sig_atomic_t fired_virt, fired_prof;
static void on_virt(int s) { (void)s; fired_virt++; }
static void on_prof(int s) { (void)s; fired_prof++; }

static void spin_until(volatile sig_atomic_t *flag, int want)
{
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	while (*flag < want) {
		clock_gettime(CLOCK_MONOTONIC, &b);
		if (b.tv_sec - a.tv_sec > 20)
			break;
	}
}

int main(void)
{
	signal(SIGVTALRM, on_virt);
	signal(SIGPROF, on_prof);
	struct itimerval v = {.it_value = {0, 50000}}, old;
	check(setitimer(ITIMER_VIRTUAL, &v, NULL) == 0, "arm ITIMER_VIRTUAL 50 ms");
	struct itimerval g;
	check(getitimer(ITIMER_VIRTUAL, &g) == 0 && (g.it_value.tv_sec > 0 || g.it_value.tv_usec > 0) &&
	      g.it_value.tv_sec == 0 && g.it_value.tv_usec <= 100000, "getitimer shows what is left");
	/* Sleeping costs no CPU time: no signal. */
	struct timespec nap = {0, 150000000};
	nanosleep(&nap, NULL);
	check(fired_virt == 0, "no SIGVTALRM while sleeping");
	spin_until(&fired_virt, 1);
	check(fired_virt == 1, "SIGVTALRM once the process computed 50 ms");
	check(getitimer(ITIMER_VIRTUAL, &g) == 0 && g.it_value.tv_sec == 0 && g.it_value.tv_usec == 0, "a one-shot timer is disarmed after firing");
	/* A repeating ITIMER_PROF. */
	struct itimerval p = {.it_value = {0, 20000}, .it_interval = {0, 20000}};
	check(setitimer(ITIMER_PROF, &p, NULL) == 0, "arm ITIMER_PROF 20 ms every 20 ms");
	spin_until(&fired_prof, 3);
	check(fired_prof >= 3, "SIGPROF repeats");
	check(setitimer(ITIMER_PROF, &(struct itimerval){0}, &old) == 0 && old.it_interval.tv_usec == 20000,
	      "disarm returns the old interval");
	int before = fired_prof;
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	do
		clock_gettime(CLOCK_MONOTONIC, &b);
	while ((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000 < 100);
	check(fired_prof == before, "no SIGPROF once disarmed");
	expect_err(setitimer(3, &v, NULL), EINVAL, "an unknown timer");
	/* A child does not inherit the timers. */
	check(setitimer(ITIMER_VIRTUAL, &(struct itimerval){.it_value = {5, 0}}, NULL) == 0, "arm 5 s");
	pid_t c = xfork();
	if (c == 0) {
		struct itimerval cg;
		getitimer(ITIMER_VIRTUAL, &cg);
		_exit(cg.it_value.tv_sec == 0 && cg.it_value.tv_usec == 0 ? 0 : 1);
	}
	expect_status(c, "exit 0", "the child has no timer");
	return finish();
}
