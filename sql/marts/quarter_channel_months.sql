-- quarterly review input: per paid channel and month of the reviewed and the prior quarter,
-- spend, attributed leads (marts.channel_performance) and SQLs of the month by the lead's
-- first-touch channel (the funnel's MQL->SQL period entries, marts.funnel_stages): the
-- series a unit-cost trend is judged on.
with

channels as (
    select channel, month, spend, leads
    from marts.channel_performance
    where level = 'channel'
        and month >= $prior_start
        and month < $quarter_end
        and spend > 0
),

sqls as (
    select segment as channel, month, period_to_entries as sqls
    from marts.funnel_stages
    where segment_type = 'channel'
        and from_stage = 'mql'
        and to_stage = 'sql'
        and month >= $prior_start
        and month < $quarter_end
),

final as (
    select c.channel, c.month, c.spend, c.leads, s.sqls
    from channels as c
    left join sqls as s
        on s.channel = c.channel
        and s.month = c.month
)

select * from final
order by channel, month
