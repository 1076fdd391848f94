#include "core/compliance.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

const char *
compliance_mode_name(enum compliance_mode m)
{
    return m == COMPLIANCE_DEVELOPMENT ? "development"
           : m == COMPLIANCE_REGULATED ? "regulated"
                                       : "standard";
}

int
compliance_mode_parse(const char *text, enum compliance_mode *out)
{
    static const enum compliance_mode all[] = { COMPLIANCE_DEVELOPMENT, COMPLIANCE_STANDARD,
                                                COMPLIANCE_REGULATED };

    for (size_t i = 0; text != NULL && i < 3; i++) {
        if (strcasecmp(text, compliance_mode_name(all[i])) == 0) {
            *out = all[i];
            return 0;
        }
    }
    return -1;
}

int
compliance_check(enum compliance_mode mode, const struct compliance_facts *f,
                 struct intentus_err *err)
{
    const char *missing[5];
    char list[240];
    size_t n = 0, at = 0;

    if (mode == COMPLIANCE_DEVELOPMENT)
        return 0;
    /* The reference's require_determinism, on in standard and regulated. */
    if (!f->require_determinism)
        missing[n++] = "require_determinism true (no PARALLEL)";
    if (mode == COMPLIANCE_REGULATED) {
        if (!f->wal_enabled)
            missing[n++] = "wal.enabled true";
        if (!f->wal_signing_key)
            missing[n++] = "wal.signing_key";
        if (!f->pii_policy)
            missing[n++] = "redaction (a PII policy)";
        if (!f->encryption)
            missing[n++] = "recording.encryption";
    }
    if (n == 0)
        return 0;
    list[0] = '\0';
    for (size_t i = 0; i < n && at < sizeof(list); i++)
        at += (size_t)snprintf(list + at, sizeof(list) - at, "%s%s", i ? "; " : "", missing[i]);
    err_set(err, IERR_CONFIG, "compliance mode %s requires: %s", compliance_mode_name(mode), list);
    return -1;
}
