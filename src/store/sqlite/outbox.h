/* The outbox, writer side (docs/webhooks.md): which events a change of a call causes, where
 * they are routed, and the message and delivery rows that carry them — all inside the
 * transaction of the change. Also applies delivery results. Internal to the store. */
#ifndef CH_OUTBOX_H
#define CH_OUTBOX_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/model.h"
#include "store/sqlite/sqlite.h"

#include "core/lifecycle.h"

typedef struct ch_outbox ch_outbox;
/* changes: where deliveries created and settled are reported (the change feed) */
ch_outbox *ch_outbox_new(sqlite3 *db, int64_t disable_after_ms, ch_change_log *changes);
void ch_outbox_free(ch_outbox *o);
/* At the start of every transaction: forgets cached endpoint lists. */
void ch_outbox_batch_begin(ch_outbox *o, int64_t now);
/* Skip counts of the current job join the batch's (released savepoint) or are dropped. */
void ch_outbox_job_end(ch_outbox *o, bool committed);
/* Writes the batch's skip counts; before COMMIT. */
int ch_outbox_batch_flush(ch_outbox *o);
/* True when the batch created deliveries (the dispatcher is to be woken after commit). */
bool ch_outbox_batch_has_deliveries(ch_outbox *o);

/* Creates the plan's messages for the call (already written in this transaction) and their
 * deliveries, or counts the skip. dir is the call's direction now, prev_status its status
 * before the change. */
int ch_outbox_emit(ch_outbox *o, int64_t tenant_id, const char *call_id, ch_direction dir,
                   const ch_call_plan *p, ch_status prev_status);
/* One delivery attempt's result (and what it implies for the endpoint). */
int ch_outbox_apply(ch_outbox *o, const ch_delivery_result *r);

#endif
