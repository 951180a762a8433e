#!/usr/bin/env bash
# test_backup_once.sh (issue 15, "two nodes that both think it is time:
# exactly one backup runs"): the leader's schedule (in the dynamic config
# key) comes due at the start of a minute, and at that same second every
# node is asked for a backup too (POST /backup on all three, as a cron job
# on each node would, plus `pgwardenctl backup`). Exactly one backup runs:
# one demand is accepted and the others are refused while it is pending,
# the schedule's minute is taken by the same request, pgbackrest `backup`
# runs once on one node, and one backup is added to the repository.
source "$(dirname "$0")/../lib/it_prelude.sh"
source "$root/tests/lib/backup.sh"

dir=$(mktemp -d /tmp/pgw-backup-once.XXXXXX)
chmod 755 "$dir"
cluster_init "$dir" 3
bk_enable
trap 'tap_dump_logs "$dir" 3 30; cluster_cleanup' EXIT

cluster_start_etcd || exit 1
for i in 1 2 3; do cluster_start_node "$i"; done
p=$(cluster_wait_primary 90) && ok "a primary: node$p" || { not_ok "no primary"; exit 1; }
check "two replicas stream" cluster_wait_replicas 90 2
check "the stanza exists" wait_for 60 bk_stanza_ready
out=$(cluster_ctl backup --type full --timeout 180s 2>&1)
check "a first full backup ($out)" grep -q "done: label" <<<"$out"
settled() { [ -z "$(bk_key lock)" ] && [ -z "$(bk_key request)" ] && [ -z "$(bk_key demand)" ]; }
catalog_has() { [ "$(bk_catalog_count)" = "$1" ]; }
check "the catalog has it" wait_for 90 catalog_has 1
before=$(bk_backup_count "$p")

# the schedule: an incremental backup at the next minute (UTC)
now=$(date -u +%s)
due=$(((now / 60 + 1) * 60))
[ $((due - now)) -lt 8 ] && due=$((due + 60))
entry="incr $(date -u -d "@$due" +'%-M %-H') * * *"
cluster_set_config ".backup = {\"schedule\": [\"$entry\"]}"
ok "schedule \"$entry\" set in the config key (due at $(date -u -d "@$due" +%T))"
execs_before=$(cat "$dir"/node*/pgwarden.log | grep -c 'event=backup.exec .*what=backup ')

# every node is asked at the very second the schedule comes due
while [ "$(date -u +%s)" -lt "$due" ]; do sleep 0.05; done
askers=()
for i in 1 2 3; do
	curl -s -o "$dir/post$i.json" -w '%{http_code}\n' -u "$CL_REST_AUTH" -X POST -d '{"type":"incr"}' \
		"http://127.0.0.1:${CL_API_PORT[$i]}/backup" >"$dir/code$i" &
	askers+=($!)
done
cluster_ctl backup --no-wait >"$dir/ctl.out" 2>&1 &
askers+=($!)
wait "${askers[@]}"	# not a bare wait: the daemons are our children too
codes=$(cat "$dir"/code1 "$dir"/code2 "$dir"/code3 | sort | tr '\n' ' ')
accepted=$(cat "$dir"/code1 "$dir"/code2 "$dir"/code3 | grep -c 202)
grep -q requested "$dir/ctl.out" && accepted=$((accepted + 1))
echo "# POST /backup answers: $codes; pgwardenctl: $(cat "$dir/ctl.out")"
check "at most one of the four demands was accepted ($accepted)" test "$accepted" -le 1
for i in 1 2 3; do
	if grep -q 409 "$dir/code$i"; then
		check "node$i's refusal says why ($(cat "$dir/post$i.json"))" grep -q "already pending or running" "$dir/post$i.json"
		break
	fi
done

started() { [ "$(cat "$dir"/node*/pgwarden.log | grep -c 'event=backup.exec .*what=backup ')" -gt "$execs_before" ]; }
check "a backup starts" wait_for 60 started
ended_ok() { [ -z "$(bk_key lock)" ] && [ "$(bk_attempt status)" = ok ]; }
check "and ends" wait_for 240 ended_ok
sleep 8	# a second backup would have been requested by now (poll 2 s)
check "nothing else is pending or running" settled
execs=$(($(cat "$dir"/node*/pgwarden.log | grep -c 'event=backup.exec .*what=backup ') - execs_before))
check "pgbackrest backup ran exactly once across the nodes ($execs)" test "$execs" = 1
after=$(bk_backup_count "$p")
check "exactly one backup was added to the repository ($before -> $after)" test "$after" = $((before + 1))
fired=$(bk_key state | jq -r --arg e "$entry" '.fired[$e] // 0')
check "the schedule's minute is marked as served ($fired)" test "$fired" = "$((due * 1000))"
echo "# attempt: $(bk_key attempt | jq -c '{id, type, node, request_reason}')"
cluster_set_config 'del(.backup)'
check "no sanitizer report" cluster_sanitizer_clean
tap_finish
