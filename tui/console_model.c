/* The console's model without any presentation (tui/console_model.h). */
#include "tui/console_model.h"

#include "watch/index_query.h"

size_t
console_model_total(struct console_model *m)
{
    if (m->db == NULL && m->feed != NULL && m->feed_total >= 0)
        return (size_t)m->feed_total; /* postgres: its count, told by the feed */
    if (m->db == NULL)
        return index_size(m->ix);
    if (!m->db_total_ok || m->db_total_gen != m->generation) {
        long n = index_query_count(m->db, NULL, NULL);
        if (n >= 0) {
            m->db_total = (size_t)n;
            m->db_total_ok = true;
            m->db_total_gen = m->generation;
        }
    }
    return m->db_total_ok ? m->db_total : index_size(m->ix);
}
