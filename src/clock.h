/* clock.h — the monotonic clock every module measures intervals with. */
#ifndef PROXIMITY_CLOCK_H
#define PROXIMITY_CLOCK_H

/* Seconds on CLOCK_MONOTONIC (not wall time: never jumps). */
double clock_monotonic(void);

#endif
