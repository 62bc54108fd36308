/* GET /healthz: "ok" for as long as the node's loop serves requests. */
#include <event2/buffer.h>
#include <event2/http.h>

#include "admin_route.h"

/* Answering at all is the check: the loop runs and serves requests. */
static void route_health(struct admin_request *ar)
{
	evbuffer_add(ar->body, "ok\n", 3);
	admin_reply(ar, HTTP_OK, "text/plain; charset=utf-8");
}

const struct admin_route route_health_entry = {
	.path = "/healthz",
	.handle = route_health,
};
