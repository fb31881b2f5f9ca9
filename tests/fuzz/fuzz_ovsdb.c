/*
 * Fuzz target: arbitrary bytes as what an OVSDB server (the VTEP database) sends pvnetd.
 * The input is fed to the stream framer in pieces whose sizes come from the input; every
 * message it yields is applied to a replica both as a monitor reply and as an update
 * (params[1] of an "update" notification when it has that shape), and the datum helpers
 * walk every column; an input that starts with a NUL-terminated string is also parsed as
 * a database address (a list of targets). Must neither crash nor leak, and a rejected
 * update changes nothing.
 */
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <pvnet/ovsdb.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void walk(const struct ovsdb_replica *r)
{
	const char *tn, *uuid, *col;
	json_t *t, *row, *d;

	json_object_foreach(r->tables, tn, t)
	{
		json_object_foreach(t, uuid, row)
		{
			if (!ovsdb_uuid_valid(uuid))
				__builtin_trap();
			json_object_foreach(row, col, d)
			{
				const json_t *k, *v;

				(void)ovsdb_row_string(row, col);
				for (size_t i = 0; i < ovsdb_set_len(d); i++)
					(void)ovsdb_atom_uuid(ovsdb_set_get(d, i));
				for (size_t i = 0; i < ovsdb_map_len(d); i++)
					if (!ovsdb_map_pair(d, i, &k, &v))
						(void)ovsdb_atom_uuid(v);
			}
		}
	}
}

static void feed(struct ovsdb_replica *r, json_t *m)
{
	json_t *params = json_object_get(m, "params");
	json_t *upd = json_array_get(params, 1);
	json_t *before;
	int rc;

	rc = ovsdb_replica_apply(r, json_object_get(m, "result"), 1);
	(void)rc;
	if (!upd)
		return;
	before = json_deep_copy(r->tables);
	rc = ovsdb_replica_apply(r, upd, 0);
	if (rc && before && !json_equal(before, r->tables))
		__builtin_trap();
	json_decref(before);
	walk(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ovsdb_framer f;
	struct ovsdb_replica r;
	size_t off = 0;

	/* the first bytes up to a NUL, as a database address ("unix:A,tcp:B:P,..."; from
	 * the command line or vtep.conf): parsed or refused, never a crash */
	if (size && memchr(data, 0, size < 600 ? size : 600)) {
		static const struct ovsdb_conn_ops none;
		struct ovsdb_conn *c;

		if (!ovsdb_conn_create((const char *)data, &none, NULL, &c))
			ovsdb_conn_destroy(c);
	}
	ovsdb_framer_init(&f, 4096);
	if (ovsdb_replica_init(&r, 64))
		return 0;
	while (off < size) {
		size_t n = 1 + data[off] % 61;
		json_t *m;
		int rc;

		if (n > size - off)
			n = size - off;
		if (ovsdb_framer_push(&f, data + off, n) == -ENOMEM)
			break;
		off += n;
		while ((rc = ovsdb_framer_next(&f, &m)) != 0) {
			if (rc == 1) {
				feed(&r, m);
				json_decref(m);
			}
		}
	}
	walk(&r);
	ovsdb_replica_fini(&r);
	ovsdb_framer_fini(&f);
	return 0;
}
