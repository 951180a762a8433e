/*
 * fuzz_backup_catalog.c: libFuzzer target for the backup catalog and the
 * recovery targets (outside input: etcd values, operators), and the JSON
 * pgbackrest prints. First byte: 0 the catalog (a decoded catalog
 * re-encodes to one that decodes to the same struct), 1 `pgbackrest info
 * --output=json`, 2 a recovery target checked against a catalog. The
 * internal key codecs and repo-ls parser are covered by
 * tests/unit/test_backup_pure.c.
 */
#include "backup/backup.h"

#include <stdio.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;
	size_t n;
	BackupCatalog *c;
	PgwError err = {0};

	if (size < 1 || size > 1 << 20)
		return 0;
	n = size - 1;
	s = malloc(size);
	c = calloc(2, sizeof(BackupCatalog));
	if (s == NULL || c == NULL)
		abort();
	memcpy(s, data + 1, n);
	s[n] = '\0';
	switch (data[0] % 3)
	{
		case 0:
			if (backup_catalog_decode(s, n, &c[0], &err) == 0)
			{
				char *json = backup_catalog_encode(&c[0]);

				if (backup_catalog_decode(json, strlen(json), &c[1], &err) !=
				        0 ||
				    memcmp(&c[0], &c[1], sizeof(BackupCatalog)) != 0)
					abort();
				free(json);
			}
			break;
		case 1:
			if (backup_info_parse(s, n, "demo", &c[0], &err) == 0 &&
			    c[0].n_backups > 64)
				abort();
			break;
		case 2:
		{
			BackupTarget t;
			char label[BACKUP_LABEL_MAX];

			if (backup_target_parse(s, &t, &err) == 0)
			{
				c[0].n_backups = 1;
				c[0].backups[0].stop_wall_ms = 1;
				snprintf(c[0].backups[0].stop_lsn,
				         sizeof(c[0].backups[0].stop_lsn), "0/1");
				if (backup_target_check(&c[0], &t, label, sizeof(label),
				                        &err) != 0 &&
				    err.msg[0] == '\0')
					abort(); /* a refusal always says why */
			}
			break;
		}
	}
	free(s);
	free(c);
	return 0;
}
