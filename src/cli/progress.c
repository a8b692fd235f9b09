/* progress.c — a one-line progress bar with rate and ETA on stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "../util/util.h"
#include "cli.h"

void
progress_init(struct progress *p, const char *unit, bool quiet)
{
	const char *term = getenv("TERM");
	memset(p, 0, sizeof *p);
	p->enabled = !quiet && isatty(STDERR_FILENO) && !(term && strcmp(term, "dumb") == 0);
	p->t0 = util_now();
	p->unit = unit;
}

static void
fmt_time(char *buf, size_t n, double s)
{
	if (s < 0 || s > 99 * 3600)
		snprintf(buf, n, "--:--");
	else if (s >= 3600)
		snprintf(buf, n, "%d:%02d:%02d", (int)s / 3600, (int)s / 60 % 60, (int)s % 60);
	else
		snprintf(buf, n, "%02d:%02d", (int)s / 60, (int)s % 60);
}

void
progress_update(struct progress *p, long done, long total, long tokens)
{
	if (!p->enabled)
		return;
	double now = util_now();
	if (now - p->last < 0.1 && done < total)
		return;
	p->last = now;
	double el = now - p->t0;
	struct winsize ws;
	int cols = ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col ? ws.ws_col : 80;
	char eta[16], ela[16];
	double rate = el > 0 ? done / el : 0;
	fmt_time(ela, sizeof ela, el);
	fmt_time(eta, sizeof eta, rate > 0 ? (total - done) / rate : -1);
	char tail[128];
	int tl = snprintf(tail, sizeof tail, " %ld/%ld %s  %.1f/s  %.0f tok/s  %s<%s",
	                  done, total, p->unit, rate, el > 0 ? tokens / el : 0.0, ela, eta);
	int bar = cols - tl - 8;
	if (bar > 40)
		bar = 40;
	fprintf(stderr, "\r\033[K");
	if (bar >= 10) {
		int fill = total > 0 ? (int)((double)bar * done / total) : 0;
		fputc('[', stderr);
		for (int i = 0; i < bar; i++)
			fputc(i < fill ? '#' : '.', stderr);
		fputc(']', stderr);
	}
	fprintf(stderr, " %3d%%%s", total > 0 ? (int)(100.0 * done / total) : 0, tail);
	fflush(stderr);
}

void
progress_finish(struct progress *p)
{
	if (p->enabled) {
		fputc('\n', stderr);
		fflush(stderr);
	}
}
