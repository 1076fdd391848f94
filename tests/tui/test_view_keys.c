/* Issue 18 P1.3: a view's handle op takes the key as a struct key_event
 * (key, modifiers, mouse position), the same event its click op gets, not
 * a bare int. Checked on every view the console registers, without a
 * terminal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tui/app.h"

typedef unsigned (*handle_fn)(struct app *, void *, enum key_action, const struct key_event *);

/* 1 when the op has the key_event signature (lvalue conversion drops the
 * member's const, so the controlling type is the plain pointer type). */
#define TAKES_EVENT(ops) _Generic((ops).handle, handle_fn : 1, default : 0)

static void
test_every_view_handle_takes_a_key_event(void **state)
{
    (void)state;
    const struct {
        const char *name;
        int takes_event;
        bool has_handle;
    } views[] = {
        { "dashboard", TAKES_EVENT(view_dashboard), view_dashboard.handle != NULL },
        { "records", TAKES_EVENT(view_records), view_records.handle != NULL },
        { "detail", TAKES_EVENT(view_detail), view_detail.handle != NULL },
        { "help", TAKES_EVENT(view_help), view_help.handle != NULL },
        { "fire", TAKES_EVENT(view_fire), view_fire.handle != NULL },
        { "redact", TAKES_EVENT(view_redact), view_redact.handle != NULL },
        { "retention", TAKES_EVENT(view_retention), view_retention.handle != NULL },
        { "messages", TAKES_EVENT(view_messages), view_messages.handle != NULL },
    };

    for (size_t i = 0; i < sizeof(views) / sizeof(views[0]); i++) {
        if (!views[i].takes_event)
            fail_msg("view %s: handle does not take a const struct key_event *", views[i].name);
        if (!views[i].has_handle)
            fail_msg("view %s: no handle op", views[i].name);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_view_handle_takes_a_key_event),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
