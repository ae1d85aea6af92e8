//! Retention: dropping the days older than the history keeps.

use super::*;

impl Writer {
    pub(super) fn retain(&mut self, oldest_day: u32) -> Result<RetainReport, StoreError> {
        let tx = self.conn.transaction()?;
        let mut report = RetainReport::default();
        let expired: Vec<(u32, i64)> = {
            let mut st =
                tx.prepare("SELECT day, events FROM partitions WHERE day < ?1 ORDER BY day")?;
            st.query_map([oldest_day], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?
        };
        // Tables may exist without a partitions row if a day was created and never committed into.
        let orphan_days: HashSet<u32> = day_tables(&tx, "blocks")?
            .into_iter()
            .filter(|d| *d < oldest_day)
            .collect();
        let mut days: HashSet<u32> = expired.iter().map(|(d, _)| *d).collect();
        days.extend(orphan_days);
        for day in &days {
            tx.execute_batch(&format!(
                "DROP TABLE IF EXISTS {}; DROP TABLE IF EXISTS {}; DROP TABLE IF EXISTS {}; DROP TABLE IF EXISTS {};",
                blocks_table(*day),
                slots_table(*day),
                lists_table(*day),
                idruns::table(*day)
            ))?;
            self.days.remove(day);
            self.merged.remove(day);
        }
        if !days.is_empty() {
            tx.execute("DELETE FROM partitions WHERE day < ?1", [oldest_day])?;
            idruns::forget_before(&tx, oldest_day)?;
        }
        tx.commit()?;
        report.events_dropped = expired.iter().map(|(_, n)| n).sum();
        report.days_dropped = {
            let mut d: Vec<u32> = days.into_iter().collect();
            d.sort_unstable();
            d
        };
        if !report.days_dropped.is_empty() {
            // incremental_vacuum frees one page per step: step it to the end.
            let mut st = self.conn.prepare("PRAGMA incremental_vacuum")?;
            let mut rows = st.query([])?;
            while rows.next()?.is_some() {}
            drop(rows);
            drop(st);
            self.conn
                .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
        }
        Ok(report)
    }
}
