#!/usr/bin/env bash
# backup.sh: helpers of the backup integration tests (issue 15), on top of
# cluster.sh: a pgBackRest repository in the test's directory, the
# backup: section in every node's config, pgbackrest run as the
# PostgreSQL user with a node's generated configuration, and reads of the
# backup/ keys. Every wait is a bounded poll.

# bk_enable [EXTRA_YAML_LINES]: the repository and the backup: section
bk_enable() {
	local extra=${1:-} i
	BK_REPO="$CL_DIR/repo"
	mkdir -p "$BK_REPO"
	chown "$PGW_RUN_AS" "$BK_REPO" 2>/dev/null || true
	for i in $(seq 1 "$CL_N"); do
		{
			echo "backup:"
			echo "  repository: $BK_REPO"
			# the tests' defaults, unless EXTRA sets the key itself
			local kv
			for kv in "retry_interval: 3s" "canary_interval: 2s" "archive_timeout: 10s"; do
				grep -q "^ *${kv%%:*}:" <<<"$extra" || echo "  $kv"
			done
			[ -n "$extra" ] && printf '%s\n' "$extra"
		} >>"$CL_DIR/node$i/pgwarden.yml"
	done
}

# bk_pgbackrest NODE ARGS...: pgbackrest with node NODE's generated config
bk_pgbackrest() {
	local n=$1
	shift
	runuser -u "$PGW_RUN_AS" -- pgbackrest --config="$CL_DIR/node$n/data.backup/pgbackrest.conf" \
		--stanza="$CL_SCOPE" "$@"
}

# bk_key NAME: the value of backup/NAME
bk_key() { cluster_etcdctl get --print-value-only "/service/$CL_SCOPE/backup/$1"; }

# bk_attempt FIELD: a field of backup/attempt ("" when absent)
bk_attempt() { bk_key attempt | jq -r ".$1 // empty" 2>/dev/null; }

# bk_attempt_is ID STATUS: the latest attempt is ID with STATUS
bk_attempt_is() { [ "$(bk_attempt id)" = "$1" ] && [ "$(bk_attempt status)" = "$2" ]; }

# bk_stanza_ready: the leader recorded the stanza
bk_stanza_ready() { [ -n "$(bk_key stanza)" ]; }

# bk_backup_count NODE: backups pgBackRest lists
bk_backup_count() { bk_pgbackrest "$1" info --output=json 2>/dev/null | jq '.[0].backup | length'; }

# bk_catalog_count: backups in the catalog mirror
bk_catalog_count() { bk_key catalog | jq '.backups | length' 2>/dev/null; }

# bk_demand_id OUTPUT: the id in "backup ID requested"
bk_demand_id() { sed -n 's/^backup \([^ ]*\) requested.*/\1/p' <<<"$1" | head -1; }
