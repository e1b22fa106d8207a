/*
 * test_addr.c - address normalisation, capture tokens, tickets.
 */
#include <glib.h>

#include "crmgate/addr.h"

static void check_norm(const char *in, const char *want)
{
    g_autofree char *got = addr_normalize(in);
    g_assert_cmpstr(got, ==, want);
}

static void test_normalize(void)
{
    check_norm("John.Smith@Example.COM", "john.smith@example.com");
    check_norm("  <Alice@Example.com>  ", "alice@example.com");
    check_norm("user@bücher.example", "user@xn--bcher-kva.example");
    check_norm("a@b.example.", "a@b.example");
    check_norm("\"quoted@local\"@example.com", "\"quoted@local\"@example.com");
    check_norm("no-at-sign", NULL);
    check_norm("@example.com", NULL);
    check_norm("user@", NULL);
    check_norm("us er@example.com", NULL);
    check_norm("user@exa mple.com", NULL);
    check_norm("user@a..b", NULL);
    check_norm(NULL, NULL);
    g_autofree char *longlocal = g_strnfill(65, 'a');
    g_autofree char *addr = g_strconcat(longlocal, "@example.com", NULL);
    check_norm(addr, NULL);
}

static void test_domain(void)
{
    g_autofree char *d = addr_normalize_domain("MÜNCHEN.de");
    g_assert_cmpstr(d, ==, "xn--mnchen-3ya.de");
    g_assert_cmpstr(addr_domain("a@b.c"), ==, "b.c");
    g_assert_cmpstr(addr_domain("nothing"), ==, "");
    g_autofree char *bad = addr_normalize_domain("bad domain");
    g_assert_null(bad);
}

static void test_tokens(void)
{
    capture_token t;
    g_assert_true(addr_capture_token("crm+deal-42@crm.example.com", "crm",
                                     "crm.example.com", &t));
    g_assert_cmpint(t.type, ==, TOKEN_DEAL);
    g_assert_cmpint(t.id, ==, 42);
    g_assert_true(addr_capture_token("crm+contact-7@crm.example.com", "crm",
                                     "crm.example.com", &t));
    g_assert_cmpint(t.type, ==, TOKEN_CONTACT);
    g_assert_true(addr_capture_token("crm+lead-1@crm.example.com", "crm",
                                     "crm.example.com", &t));
    g_assert_cmpint(t.type, ==, TOKEN_LEAD);
    g_assert_true(addr_capture_token("crm+company-3@crm.example.com", "crm",
                                     "crm.example.com", &t));
    g_assert_cmpint(t.type, ==, TOKEN_COMPANY);
    g_assert_true(addr_capture_token("crm+request-9@crm.example.com", "crm",
                                     "crm.example.com", &t));
    g_assert_cmpint(t.type, ==, TOKEN_REQUEST);
    /* The plain capture address: captured, nothing linked. */
    g_assert_true(addr_capture_token("crm@crm.example.com", "crm",
                                     "crm.example.com", &t));
    g_assert_cmpint(t.type, ==, TOKEN_NONE);
    /* Malformed tokens still are capture addresses, with no link. */
    g_assert_true(addr_capture_token("crm+deal-x@crm.example.com", "crm",
                                     "crm.example.com", &t));
    g_assert_cmpint(t.type, ==, TOKEN_NONE);
    g_assert_true(addr_capture_token("crm+deal-0@crm.example.com", "crm",
                                     "crm.example.com", &t));
    g_assert_cmpint(t.type, ==, TOKEN_NONE);
    g_assert_true(addr_capture_token("crm+pony-1@crm.example.com", "crm",
                                     "crm.example.com", &t));
    g_assert_cmpint(t.type, ==, TOKEN_NONE);
    g_assert_true(
        addr_capture_token("crm+deal-99999999999999999999@crm.example.com",
                           "crm", "crm.example.com", &t));
    g_assert_cmpint(t.type, ==, TOKEN_NONE);
    /* Not capture addresses. */
    g_assert_false(addr_capture_token("crm+deal-42@example.com", "crm",
                                      "crm.example.com", &t));
    g_assert_false(addr_capture_token("crmx@crm.example.com", "crm",
                                      "crm.example.com", &t));
    g_assert_false(addr_capture_token("bob@crm.example.com", "crm",
                                      "crm.example.com", &t));
    g_assert_false(addr_capture_token("crm@crm.example.com", "crm", "", &t));
    g_assert_cmpstr(addr_token_type_name(TOKEN_DEAL), ==, "deal");
    g_assert_null(addr_token_type_name(TOKEN_NONE));
}

static void test_ticket(void)
{
    g_autofree char *a =
        addr_subject_ticket("Re: offer [ticket:Ab3dE9] thanks");
    g_assert_cmpstr(a, ==, "Ab3dE9");
    g_autofree char *b = addr_subject_ticket("[TICKET: x1 ]");
    g_assert_cmpstr(b, ==, "x1");
    g_autofree char *c =
        addr_subject_ticket("no ticket here [ticket:] [ticket:a-b]");
    g_assert_null(c);
    g_autofree char *d =
        addr_subject_ticket("[ticket:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]");
    g_assert_null(d);
    g_assert_null(addr_subject_ticket(NULL));
}

static void test_split_name(void)
{
    char *f, *l;
    addr_split_name("  John   van Smith ", &f, &l);
    g_assert_cmpstr(f, ==, "John");
    g_assert_cmpstr(l, ==, "van Smith");
    g_free(f);
    g_free(l);
    addr_split_name("Cher", &f, &l);
    g_assert_cmpstr(f, ==, "Cher");
    g_assert_cmpstr(l, ==, "");
    g_free(f);
    g_free(l);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/addr/normalize", test_normalize);
    g_test_add_func("/addr/domain", test_domain);
    g_test_add_func("/addr/tokens", test_tokens);
    g_test_add_func("/addr/ticket", test_ticket);
    g_test_add_func("/addr/split-name", test_split_name);
    return g_test_run();
}
