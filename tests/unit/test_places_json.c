/* Unit tests of WHATSAT JSON formatting. */
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_tree.h>

#include "check.h"
#include "places_json.h"

static void test_collapse(void)
{
	char a[] = "\n\n{\n\n\n  \"a\": 1\n}\n\n";
	char b[] = "x\ny";
	char c[] = "\n\n";
	size_t n;

	n = places_json_collapse_newlines(a, strlen(a));
	CHECK_MEM(a, n, "{\n  \"a\": 1\n}");
	n = places_json_collapse_newlines(b, strlen(b));
	CHECK_MEM(b, n, "x\ny");
	CHECK_INT(places_json_collapse_newlines(c, strlen(c)), 0);
}

static void test_error(void)
{
	size_t len = 0;
	char *json = places_json_error("timed out after 5 s \"quoted\"", &len);
	char errbuf[128];
	yajl_val tree, v;
	const char *status_path[] = { "status", NULL };
	const char *message_path[] = { "error_message", NULL };
	const char *results_path[] = { "results", NULL };

	CHECK(json != NULL);
	if (json == NULL)
		return;
	CHECK_INT(strlen(json), len);
	CHECK(strstr(json, "\n\n") == NULL);
	CHECK(len > 0 && json[len - 1] == '}');
	tree = yajl_tree_parse(json, errbuf, sizeof(errbuf));
	CHECK(tree != NULL);
	if (tree != NULL) {
		v = yajl_tree_get(tree, status_path, yajl_t_string);
		CHECK_STR(v != NULL ? v->u.string : NULL, "UNKNOWN_ERROR");
		v = yajl_tree_get(tree, message_path, yajl_t_string);
		CHECK_STR(v != NULL ? v->u.string : NULL, "timed out after 5 s \"quoted\"");
		v = yajl_tree_get(tree, results_path, yajl_t_array);
		CHECK(v != NULL && YAJL_GET_ARRAY(v)->len == 0);
		yajl_tree_free(tree);
	}
	free(json);
}

int main(void)
{
	test_collapse();
	test_error();
	return check_done("test_places_json");
}
