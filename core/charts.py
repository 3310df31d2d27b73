"""Plotly figures for the statistics pages, built from the DataFrames of core/analytics.py.

The same figures go on the page and, as images, into the PDF report. Each answers one question.
"""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from core import analytics

WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
STATUS_COLOURS = {"present": "#22c55e", "late": "#facc15", "absent": "#ef4444"}
MEASURE_COLOURS = {"Attendance rate": "#2563eb", "Late rate": "#f59e0b"}
# Inside Streamlit, plotly's default template is Streamlit's, whose colours are placeholders (#000001, #000002…)
# that only the browser replaces with the theme's colours. A figure drawn anywhere else (kaleido, for the PDF)
# must name a real template, or every trace comes out near-black.
PRINT_TEMPLATE = "plotly_white"
_LAYOUT = {"margin": {"l": 40, "r": 20, "t": 50, "b": 40}, "height": 340,
           "font": {"family": "Noto Sans Thai, sans-serif"}}


def _empty(title: str, template: str | None = None) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text="No data for these filters", showarrow=False, font={"size": 16})
    fig.update_layout(title=title, xaxis={"visible": False}, yaxis={"visible": False}, **_LAYOUT)
    if template:
        fig.update_layout(template=template)
    return fig


def attendance_over_time(df: pd.DataFrame, template: str | None = None) -> go.Figure:
    title = "Is attendance going up or down? (rate per week, per class)"
    if df.empty:
        return _empty(title, template)
    fig = px.line(df, x="period", y="rate", color="class_name", markers=True, title=title, template=template,
                  labels={"period": "", "rate": "Attendance rate", "class_name": "Class"})
    fig.update_yaxes(tickformat=".0%", range=[0, 1.05])
    return fig.update_layout(**_LAYOUT)


def arrivals_heatmap(df: pd.DataFrame, template: str | None = None) -> go.Figure:
    title = "When do people arrive? (check-ins by weekday and hour)"
    if df.empty:
        return _empty(title, template)
    grid = df.pivot_table(index="weekday", columns="hour", values="arrivals", aggfunc="sum", fill_value=0)
    grid = grid.reindex(index=range(7), fill_value=0)
    fig = px.imshow(grid.to_numpy(), x=[f"{h:02d}:00" for h in grid.columns], y=WEEKDAYS, aspect="auto",
                    color_continuous_scale="Blues", title=title, template=template, labels={"color": "Check-ins"})
    return fig.update_layout(**_LAYOUT)


def lateness(df: pd.DataFrame, template: str | None = None) -> go.Figure:
    title = "How late are late arrivals? (minutes after the start)"
    if df.empty:
        return _empty(title, template)
    fig = px.histogram(df, x="minutes_after_start", color="status", nbins=40, title=title, template=template,
                       color_discrete_map=STATUS_COLOURS,
                       labels={"minutes_after_start": "Minutes after the session started", "status": ""})
    return fig.update_layout(bargap=0.05, **_LAYOUT)


def departments(df: pd.DataFrame, template: str | None = None) -> go.Figure:
    title = "Which departments attend best? (attendance and late rates)"
    if df.empty:
        return _empty(title, template)
    long = df.melt(id_vars="department", value_vars=["rate", "late_rate"], var_name="measure", value_name="value")
    long["measure"] = long["measure"].map({"rate": "Attendance rate", "late_rate": "Late rate"})
    fig = px.bar(long, x="department", y="value", color="measure", barmode="group", title=title, template=template,
                 color_discrete_map=MEASURE_COLOURS, labels={"department": "", "value": "", "measure": ""})
    fig.update_yaxes(tickformat=".0%")
    return fig.update_layout(**_LAYOUT)


def person_history(df: pd.DataFrame, name: str) -> go.Figure:
    title = f"{name}: every session"
    if df.empty:
        return _empty(title)
    fig = px.scatter(df, x="starts_at", y="class_name", color="status", color_discrete_map=STATUS_COLOURS,
                     title=title, labels={"starts_at": "", "class_name": "", "status": ""})
    fig.update_traces(marker={"size": 12, "symbol": "square"})
    return fig.update_layout(**_LAYOUT)


def people_counted(df: pd.DataFrame, template: str | None = None) -> go.Figure:
    title = "How many different people came? (per day)"
    if df.empty:
        return _empty(title, template)
    fig = px.bar(df, x="period", y="unique_people", title=title, template=template,
                 labels={"period": "", "unique_people": "People"})
    return fig.update_layout(**_LAYOUT)


def recognition_quality(scores: pd.DataFrame, unknowns: pd.DataFrame, threshold: float,
                        template: str | None = None) -> go.Figure:
    title = "Is recognition healthy? (match scores; the line is the threshold)"
    if scores.empty:
        return _empty(title, template)
    fig = px.histogram(scores, x="score", color="method", nbins=40, title=title, template=template,
                       labels={"score": "Match score", "method": "How"})
    fig.add_vline(x=threshold, line_dash="dash", line_color="#ef4444")
    if not unknowns.empty:
        fig.add_annotation(text=f"{int(unknowns['unknowns'].sum())} unknown faces in the period", xref="paper",
                           yref="paper", x=0.99, y=0.98, showarrow=False, xanchor="right")
    return fig.update_layout(bargap=0.05, **_LAYOUT)


def attendance_figures(db, filters: analytics.Filters, threshold: float,
                       template: str | None = None) -> list[tuple[str, go.Figure]]:
    """The Attendance tab's six charts, (short title, figure), in the order the page and the PDF show them.
    `template` None follows plotly's default (Streamlit's theme on the page); the PDF passes PRINT_TEMPLATE."""
    return [("Attendance over time", attendance_over_time(analytics.attendance_over_time(db, filters), template)),
            ("Arrivals", arrivals_heatmap(analytics.arrivals_heatmap(db, filters), template)),
            ("Lateness", lateness(analytics.lateness(db, filters), template)),
            ("Departments", departments(analytics.departments(db, filters), template)),
            ("People", people_counted(analytics.people_counted(db, filters), template)),
            ("Recognition", recognition_quality(analytics.recognition_scores(db, filters),
                                                analytics.unknowns_per_day(db, filters), threshold, template))]


# --- ceremonies ----------------------------------------------------------------------------------

def graduates_per_minute(df: pd.DataFrame) -> go.Figure:
    title = "Pace: graduates received per minute"
    if df.empty:
        return _empty(title)
    return px.bar(df, x="minute", y="received", title=title,
                  labels={"minute": "", "received": "Received"}).update_layout(**_LAYOUT)


def seconds_histogram(df: pd.DataFrame, title: str, axis: str) -> go.Figure:
    if df.empty:
        return _empty(title)
    return px.histogram(df, x="seconds", nbins=30, title=title,
                        labels={"seconds": axis}).update_layout(bargap=0.05, **_LAYOUT)


def no_show_by_department(df: pd.DataFrame) -> go.Figure:
    title = "No-shows by department"
    if df.empty:
        return _empty(title)
    fig = px.bar(df, x="department", y="rate", title=title, hover_data=["graduates", "absent"],
                 labels={"department": "", "rate": "No-show rate"})
    fig.update_yaxes(tickformat=".0%")
    return fig.update_layout(**_LAYOUT)


def ceremony_timeline(df: pd.DataFrame) -> go.Figure:
    title = "Timeline: from call to stage to diploma"
    done = df.dropna(subset=["called_at", "received_at"]) if not df.empty else df
    if done.empty:
        return _empty(title)
    done = done.sort_values("order_no").head(80)
    fig = go.Figure()
    for start, end, label, colour in (("called_at", "on_stage_at", "called → stage", "#facc15"),
                                      ("on_stage_at", "received_at", "on stage", "#3b82f6")):
        rows = done.dropna(subset=[start, end])
        fig.add_trace(go.Bar(y=rows["name"], base=rows[start], x=(rows[end] - rows[start]).dt.total_seconds() * 1000,
                             orientation="h", name=label, marker_color=colour))
    fig.update_layout(title=title, barmode="stack", xaxis={"type": "date"},
                      yaxis={"autorange": "reversed"}, **{**_LAYOUT, "height": max(340, 18 * len(done))})
    return fig
