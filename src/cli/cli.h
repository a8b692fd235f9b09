/*
 * cli.h — what the files of the attnscope command share: the subcommands,
 * the progress bar and small option helpers. Exit codes: 0 ok, 1 runtime
 * failure, 2 usage error.
 */
#ifndef ATTNSCOPE_CLI_H
#define ATTNSCOPE_CLI_H

#include <stdbool.h>
#include <stdio.h>

int cmd_record(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_analyze(int argc, char **argv);
int cmd_probe(int argc, char **argv);

/* Print "attnscope: <msg>" on stderr; returns 1 (runtime failure). */
int cli_fail(int code);
/* Print "attnscope <cmd>: <msg>" and a hint to --help; returns 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Parse a non-negative integer option; false (and a usage message) if bad. */
bool cli_parse_long(const char *cmd, const char *opt, const char *s, long lo,
                    long hi, long *out);

/* Progress bar on stderr: drawn only on a TTY (and TERM != dumb), at most
 * ~10 times a second, with rate and ETA; quiet otherwise. */
struct progress {
	bool enabled;
	double t0, last;
	const char *unit;
};
void progress_init(struct progress *p, const char *unit, bool quiet);
void progress_update(struct progress *p, long done, long total, long tokens);
void progress_finish(struct progress *p);

/* Escape a token piece for one-line terminal output (control bytes as
 * \n, \t, <0xNN>). Writes into buf; returns buf. */
char *cli_escape_piece(const char *piece, char *buf, size_t size);

#endif
