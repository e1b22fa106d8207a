/*
 * seed_int.h - what core/seed.c and core/seed_demo.c share.
 */
#ifndef CRMGATE_SEED_INT_H
#define CRMGATE_SEED_INT_H

/* A realistic stage history for the deals that SRC (a compiled-in SELECT
   of deal ids) names and that have only the row the insert trigger wrote
   (sql/0008): that row becomes the first stage at created_at, each later
   stage up to the deal's own follows at even steps between created_at and
   closed_at (or now), and a closed deal ends with its won/lost row at
   closed_at. */
#define SEED_HISTORY_SQL(SRC)                                                  \
    "WITH sr AS (SELECT id, row_number() OVER (ORDER BY position, id) AS r "   \
    "FROM stages), "                                                           \
    "d AS (SELECT d.id, d.status, d.stage_id, d.owner_id, d.created_at, "      \
    "d.closed_at, coalesce(d.closed_at, now()) - d.created_at AS span, "       \
    "sr.r AS pos FROM deals d JOIN sr ON sr.id = d.stage_id "                  \
    "WHERE d.id IN (" SRC ") AND (SELECT count(*) FROM deal_stage_history h "  \
    "WHERE h.deal_id = d.id) = 1), "                                           \
    "f AS (UPDATE deal_stage_history h SET stage_id = (SELECT id FROM sr "     \
    "WHERE r = 1), status = 'open', user_id = d.owner_id FROM d "              \
    "WHERE h.deal_id = d.id RETURNING h.id) "                                  \
    "INSERT INTO deal_stage_history (deal_id, stage_id, status, user_id, "     \
    "changed_at) "                                                             \
    "SELECT d.id, sr.id, 'open', d.owner_id, d.created_at + d.span * "         \
    "((sr.r - 1)::float8 / d.pos) FROM d JOIN sr ON sr.r BETWEEN 2 AND d.pos " \
    "UNION ALL SELECT d.id, d.stage_id, d.status, d.owner_id, d.closed_at "    \
    "FROM d WHERE d.status <> 'open' AND d.closed_at IS NOT NULL"

#endif
