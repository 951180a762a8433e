/*
 * secret_env.c: the PGWARDEN_* environment (passwords among them, the
 * container way to configure a node) is read at start and on reload, and
 * never left in environ, where PostgreSQL, its tools and callbacks would
 * inherit it and a database superuser could read it from /proc (security
 * review F6). A private copy serves config reloads.
 */
#include "daemon/daemon.h"

#include "common/xmem.h"

#include <stdlib.h>
#include <string.h>

extern char **environ;

static char **saved;

void
daemon_env_take(void)
{
	int n = 0;
	int k = 0;

	for (char **e = environ; *e != NULL; e++)
		n++;
	saved = pgw_xcalloc((size_t) n + 1, sizeof(char *));
	for (char **e = environ; *e != NULL; e++)
		if (strncmp(*e, "PGWARDEN_", 9) == 0 && strchr(*e, '=') != NULL)
			saved[k++] = pgw_xstrdup(*e);
	for (int i = 0; i < k; i++)
	{
		char name[256];
		size_t len = (size_t) (strchr(saved[i], '=') - saved[i]);

		if (len < sizeof(name))
		{
			memcpy(name, saved[i], len);
			name[len] = '\0';
			(void) unsetenv(name);
		}
	}
}

char *const *
daemon_env_saved(void)
{
	return saved != NULL ? saved : environ;
}
