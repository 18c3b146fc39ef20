-- Rows of the required event tables that fall in the month being run.
with

counts as (
    select 'ad_spend' as table_name, count(*) as rows_in_month
    from raw.ad_spend where date >= $month_start and date < $month_end
    union all
    select 'touchpoints', count(*)
    from raw.touchpoints where ts >= $month_start and ts < $month_end
    union all
    select 'leads', count(*)
    from raw.leads where created_at >= $month_start and created_at < $month_end
),

final as (
    select * from counts
)

select * from final
