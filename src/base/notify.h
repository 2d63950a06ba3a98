/* SPDX-License-Identifier: MIT */
/*
 * The service manager's notification protocol (sd_notify): READY,
 * RELOADING, STOPPING, STATUS and WATCHDOG.  Every call does nothing when
 * the process was not started by systemd (no NOTIFY_SOCKET).
 */
#ifndef RC_BASE_NOTIFY_H
#define RC_BASE_NOTIFY_H

#include <stdint.h>

void notify_ready(const char *status);
void notify_reloading(void);
void notify_stopping(void);
void notify_status(const char *status);
/* The watchdog interval the manager asked for, in microseconds; 0 = none. */
uint64_t notify_watchdog_usec(void);
void notify_watchdog(void);

#endif
