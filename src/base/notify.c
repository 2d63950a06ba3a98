/* SPDX-License-Identifier: MIT */
/*
 * notify.h over libsystemd's sd_notify().  sd_notify() itself returns at
 * once when NOTIFY_SOCKET is unset, so these calls cost nothing outside
 * systemd.  unset_environment is 0 everywhere: the variables stay for the
 * later calls (the watchdog pings above all).
 */
#include <systemd/sd-daemon.h>
#include <time.h>

#include "base/notify.h"

/* One state line, then STATUS=text when a text is given. */
static void send_state(const char *state, const char *status)
{
	if (status && status[0])
		(void)sd_notifyf(0, "%s\nSTATUS=%s", state, status);
	else
		(void)sd_notify(0, state);
}

void notify_ready(const char *status)
{
	send_state("READY=1", status);
}

void notify_reloading(void)
{
	struct timespec ts;

	/* newer systemd (Type=notify-reload) wants the time of the request */
	if (clock_gettime(CLOCK_MONOTONIC, &ts) == 0)
		(void)sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
				 (unsigned long long)ts.tv_sec * 1000000ULL +
				 (unsigned long long)ts.tv_nsec / 1000ULL);
	else
		(void)sd_notify(0, "RELOADING=1");
}

void notify_stopping(void)
{
	send_state("STOPPING=1", NULL);
}

uint64_t notify_watchdog_usec(void)
{
	uint64_t usec = 0;

	/* > 0: enabled for this process (WATCHDOG_PID matches or is unset) */
	if (sd_watchdog_enabled(0, &usec) > 0)
		return usec;
	return 0;
}

void notify_watchdog(void)
{
	(void)sd_notify(0, "WATCHDOG=1");
}
