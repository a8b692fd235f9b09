/* embed.c — build-time tool: write a text file as a C string constant.
 * usage: embed NAME INPUT OUTPUT.h  (defines `static const char NAME[]`) */
#include <stdio.h>

int
main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: embed NAME INPUT OUTPUT\n");
		return 2;
	}
	FILE *in = fopen(argv[2], "rb"), *out = fopen(argv[3], "wb");
	if (!in || !out) {
		perror("embed");
		return 1;
	}
	fprintf(out, "/* generated from %s: do not edit */\nstatic const char %s[] = {\n", argv[2], argv[1]);
	int c, col = 0;
	while ((c = fgetc(in)) != EOF) {
		fprintf(out, "%d,", c);
		if (++col == 20) {
			fputc('\n', out);
			col = 0;
		}
	}
	fprintf(out, "0};\n");
	return fclose(out) != 0 || ferror(in);
}
