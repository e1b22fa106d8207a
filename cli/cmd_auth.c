/*
 * cmd_auth.c - "user passwd EMAIL" and "token add EMAIL": web credentials.
 *
 * The password is one line on standard input (at most 1024 bytes; the
 * newline is not part of it); on a terminal the echo is turned off while
 * it is typed. The API token is printed once, alone on the last line, and
 * only its SHA-256 is stored.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"
#include "crmgate/auth.h"

#define PASSWORD_MAX 1024

/* Reads one line from stdin without echo on a terminal; NULL at EOF or
   when longer than PASSWORD_MAX. */
static char *read_password(void)
{
    bool tty = isatty(STDIN_FILENO);
    struct termios old, quiet;
    if (tty && tcgetattr(STDIN_FILENO, &old) == 0) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        fputs("new password: ", stderr);
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    } else {
        tty = false;
    }
    char buf[PASSWORD_MAX + 2];
    char *line = fgets(buf, sizeof buf, stdin);
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
    if (!line)
        return NULL;
    gsize n = strlen(buf);
    if (n > 0 && buf[n - 1] == '\n')
        buf[--n] = '\0';
    else if (n > PASSWORD_MAX)
        return NULL;
    if (n > 0 && buf[n - 1] == '\r')
        buf[--n] = '\0';
    char *pw = g_strdup(buf);
    memset(buf, 0, sizeof buf);
    return pw;
}

int cli_user_passwd(cli_ctx *ctx, int argc, char **argv)
{
    if (argc != 3)
        return cli_usage(ctx);
    if (!auth_init())
        return cli_fail(CRM_ERR_INTERNAL, "libsodium cannot be initialised");
    char *pw = read_password();
    if (!pw)
        return cli_fail(CRM_ERR_USAGE, "no password on standard input (one "
                                       "line, at most 1024 bytes)");
    if (strlen(pw) < 8) {
        g_free(pw);
        return cli_fail(CRM_ERR_USAGE,
                        "the password needs at least 8 characters");
    }
    char *err = NULL;
    crm_result r = auth_set_password(cli_db(ctx), argv[2], pw, &err);
    memset(pw, 0, strlen(pw));
    g_free(pw);
    if (r)
        return cli_fail_free(r, err);
    if (ctx->json)
        cli_print_json(json_pack("{s:s,s:b}", "user", argv[2], "password", 1));
    else
        printf("password set for %s; their web sessions are ended\n", argv[2]);
    return 0;
}

int cmd_token(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"name", required_argument, NULL, 'n'},
        {NULL, 0, NULL, 0},
    };
    if (argc < 2 || strcmp(argv[1], "add") != 0)
        return cli_usage(ctx);
    const char *name = "";
    int ch;
    optind = 0;
    while ((ch = getopt_long(argc - 1, argv + 1, "n:", opts, NULL)) != -1) {
        if (ch == 'n')
            name = optarg;
        else
            return cli_usage(ctx);
    }
    if (optind + 1 != argc - 1)
        return cli_usage(ctx);
    const char *email = argv[1 + optind];
    if (!auth_init())
        return cli_fail(CRM_ERR_INTERNAL, "libsodium cannot be initialised");
    char *token = NULL, *err = NULL;
    gint64 uid = 0;
    crm_result r = auth_token_add(cli_db(ctx), email, name, &token, &uid, &err);
    if (r)
        return cli_fail_free(r, err);
    if (ctx->json) {
        cli_print_json(json_pack("{s:s,s:I,s:s}", "user", email, "user_id",
                                 (json_int_t)uid, "token", token));
    } else {
        printf("API token for %s (user id %" G_GINT64_FORMAT
               "); it is shown only now:\n%s\n",
               email, uid, token);
    }
    g_free(token);
    return 0;
}
