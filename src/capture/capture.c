/* capture.c — hook names and the glob filter. */
#include "capture.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/util.h"

static const char *const point_names[CAP_POINT_COUNT] = {
	[CAP_EMBED] = "hook_embed",
	[CAP_RESID_PRE] = "hook_resid_pre",
	[CAP_ATTN_IN] = "ln1.hook_normalized",
	[CAP_Q] = "attn.hook_q",
	[CAP_K] = "attn.hook_k",
	[CAP_V] = "attn.hook_v",
	[CAP_ATTN_SCORES] = "attn.hook_attn_scores",
	[CAP_ATTN_PATTERN] = "attn.hook_pattern",
	[CAP_Z] = "attn.hook_z",
	[CAP_ATTN_OUT] = "hook_attn_out",
	[CAP_RESID_MID] = "hook_resid_mid",
	[CAP_MLP_IN] = "ln2.hook_normalized",
	[CAP_MLP_POST] = "mlp.hook_post",
	[CAP_MLP_OUT] = "hook_mlp_out",
	[CAP_RESID_POST] = "hook_resid_post",
	[CAP_LN_FINAL] = "ln_final.hook_normalized",
	[CAP_LOGITS] = "logits",
	[CAP_ATTN_NORM] = "attn.hook_norm_pattern",
	[CAP_ENC_ATTN_PATTERN] = "attn.hook_pattern",
	[CAP_ENC_RESID_POST] = "hook_resid_post",
	[CAP_ENC_OUT] = "encoder.ln_final.hook_normalized",
	[CAP_DEC_ATTN_PATTERN] = "attn.hook_pattern",
	[CAP_DEC_CROSS_PATTERN] = "cross_attn.hook_pattern",
	[CAP_DEC_RESID_POST] = "hook_resid_post",
};

/* The stack a per-layer point belongs to: "blocks", "encoder", "decoder". */
static const char *
stack_of(enum cap_point p)
{
	switch (p) {
	case CAP_ENC_ATTN_PATTERN:
	case CAP_ENC_RESID_POST:
		return "encoder";
	case CAP_DEC_ATTN_PATTERN:
	case CAP_DEC_CROSS_PATTERN:
	case CAP_DEC_RESID_POST:
		return "decoder";
	default:
		return "blocks";
	}
}

static bool
is_global(enum cap_point p)
{
	return p == CAP_EMBED || p == CAP_LN_FINAL || p == CAP_LOGITS || p == CAP_ENC_OUT;
}

const char *
cap_point_name(enum cap_point p)
{
	return (unsigned)p < CAP_POINT_COUNT ? point_names[p] : "?";
}

char *
cap_hook_name(char *buf, size_t size, enum cap_point p, int layer)
{
	if (is_global(p) || layer < 0)
		snprintf(buf, size, "%s", cap_point_name(p));
	else
		snprintf(buf, size, "%s.%d.%s", stack_of(p), layer, cap_point_name(p));
	return buf;
}

int
cap_parse_hook_name(const char *name, enum cap_point *p, int *layer)
{
	for (int i = 0; i < CAP_POINT_COUNT; i++) {
		if (is_global((enum cap_point)i) && strcmp(name, point_names[i]) == 0) {
			*p = (enum cap_point)i;
			*layer = -1;
			return 0;
		}
	}
	static const char *const stacks[] = { "blocks", "encoder", "decoder" };
	for (size_t k = 0; k < 3; k++) {
		size_t sl = strlen(stacks[k]);
		int l, n = 0;
		if (strncmp(name, stacks[k], sl) != 0 || name[sl] != '.')
			continue;
		if (sscanf(name + sl, ".%d.%n", &l, &n) != 1 || n == 0 || l < 0)
			continue;
		for (int i = 0; i < CAP_POINT_COUNT; i++) {
			if (!is_global((enum cap_point)i) &&
			    strcmp(stack_of((enum cap_point)i), stacks[k]) == 0 &&
			    strcmp(name + sl + n, point_names[i]) == 0) {
				*p = (enum cap_point)i;
				*layer = l;
				return 0;
			}
		}
	}
	return err_set(ERR_ARG, "unknown hook name '%s'", name);
}

struct cap_filter {
	int n;
	char **globs;
};

struct cap_filter *
cap_filter_create(const char *globs)
{
	struct cap_filter *f = calloc(1, sizeof *f);
	char *copy = strdup(globs ? globs : "");
	if (!f || !copy)
		goto nomem;
	for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		while (*tok == ' ')
			tok++;
		size_t len = strlen(tok);
		while (len && tok[len - 1] == ' ')
			tok[--len] = '\0';
		if (!len || strcmp(tok, "none") == 0)
			continue;
		/* a glob must be able to match some hook name */
		bool any = false;
		char name[96];
		for (int p = 0; p < CAP_POINT_COUNT && !any; p++)
			for (int l = 0; l < 64 && !any; l++) {
				cap_hook_name(name, sizeof name, (enum cap_point)p, l);
				any = fnmatch(tok, name, 0) == 0;
				if (is_global((enum cap_point)p))
					break;
			}
		if (!any) {
			err_set(ERR_ARG, "capture glob '%s' matches no hook point "
			        "(names look like 'blocks.0.attn.hook_pattern')", tok);
			free(copy);
			cap_filter_free(f);
			return NULL;
		}
		char **ng = realloc(f->globs, (size_t)(f->n + 1) * sizeof *ng);
		if (!ng)
			goto nomem;
		f->globs = ng;
		if (!(f->globs[f->n] = strdup(tok)))
			goto nomem;
		f->n++;
	}
	free(copy);
	return f;
nomem:
	free(copy);
	cap_filter_free(f);
	err_set(ERR_NOMEM, "out of memory");
	return NULL;
}

void
cap_filter_free(struct cap_filter *f)
{
	if (!f)
		return;
	for (int i = 0; i < f->n; i++)
		free(f->globs[i]);
	free(f->globs);
	free(f);
}

bool
cap_filter_match(const struct cap_filter *f, enum cap_point p, int layer)
{
	char name[96];
	cap_hook_name(name, sizeof name, p, layer);
	for (int i = 0; i < f->n; i++)
		if (fnmatch(f->globs[i], name, 0) == 0)
			return true;
	return false;
}
