/* Spreading new records through the herd (SPEC section 4). */
#ifndef HERD_FLOOD_H
#define HERD_FLOOD_H

struct record;

/* A client told this node something newer: REC is stored; tell the neighbours. */
void flood_originate(const struct record *rec);

#endif
