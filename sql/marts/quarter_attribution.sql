-- quarterly review input: each channel's share of the quarter's lead conversions under
-- first-touch, last-touch, linear and data-driven (markov) attribution.
with

credit as (
    select
        model,
        channel,
        sum(attributed_conversions) as conversions
    from marts.channel_attribution
    where conversion_type = 'lead' and month >= $quarter_start and month < $quarter_end
    group by all
),

shares as (
    select
        model,
        channel,
        conversions / nullif(sum(conversions) over (partition by model), 0) as share
    from credit
),

final as (
    select
        channel,
        max(share) filter (where model = 'first_touch') as first_touch_share,
        max(share) filter (where model = 'last_touch') as last_touch_share,
        max(share) filter (where model = 'linear') as linear_share,
        max(share) filter (where model = 'markov') as markov_share
    from shares
    group by channel
)

select * from final
order by channel
