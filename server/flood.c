/* Spreading new records through the herd. Peer links arrive with issue 3. */
#include "flood.h"

#include "stats.h"

void flood_originate(const struct record *rec)
{
	stats.flood_originated++;
}
