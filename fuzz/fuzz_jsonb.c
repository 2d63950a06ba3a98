/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the input is one MySQL binary JSON document, converted
 * to JSON text by jsonb_to_json into a reused buffer.  The document is
 * copied into a heap block of exactly its size so a read past its end is
 * seen by AddressSanitizer even when libFuzzer's own buffer is larger.
 * On failure the output must be left as it was (jsonb.h); that is checked.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/log.h"
#include "source/mysql/jsonb.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct rc_buf out;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_setup(LOG_ERROR, 0, "fuzz");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	uint8_t *doc = malloc(size ? size : 1);

	if (!doc)
		abort();
	if (size)
		memcpy(doc, data, size);
	/* a prefix, to check that a failure leaves it alone */
	buf_reset(&out);
	buf_puts(&out, "x");
	err[0] = '\0';
	if (!jsonb_to_json(doc, size, &out, err, sizeof(err)) && out.len != 1)
		abort();	/* malformed input changed the output */
	free(doc);
	return 0;
}
