/*
 * fuzz_backup_schedule.c: libFuzzer target for the backup schedule
 * (issue 15): a schedule entry "TYPE MIN HOUR DOM MON DOW" as the YAML
 * file or the dynamic `config` key gives it (first byte even), or the
 * whole `config` value whose backup.schedule the leader reads (odd). A
 * parsed cron expression must be usable: next and last-due stay in order.
 */
#include "backup/backup.h"
#include "common/cron.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;
	PgwCron c;
	char type[8];
	PgwError err = {0};

	if (size < 1 || size > 4096)
		return 0;
	s = malloc(size);
	if (s == NULL)
		abort();
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	if (data[0] % 2 == 0)
	{
		if (config_backup_schedule_check(s, type, sizeof(type), &c, &err) == 0)
		{
			int64_t t0 = INT64_C(1796225878000);
			int64_t n = pgw_cron_next(&c, t0);

			if (n != -1 && (n <= t0 || !pgw_cron_matches(&c, n)))
				abort();
			if (n != -1 && pgw_cron_last_due(&c, t0, n) != n)
				abort();
		}
		else if (err.msg[0] == '\0')
			abort(); /* a refusal always says why */
	}
	else
	{
		int n = -1;

		if (backup_schedule_check_json(s, &n, &err) != 0 && err.msg[0] == '\0')
			abort();
		if (n > CONFIG_BACKUP_SCHEDULE_MAX)
			abort();
	}
	free(s);
	return 0;
}
