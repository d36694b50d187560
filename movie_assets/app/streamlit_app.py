"""The movie picker: find a movie by title and see the movies most like it (`make app`)."""

import streamlit as st

from movie_assets.app import picker
from movie_assets.tables import schemas as S

st.set_page_config(page_title="Movie picker", page_icon=":clapper:")
st.title("Which movies are most like…")


@st.cache_resource(ttl=60, show_spinner="Reading movies_bronze…")
def load_catalog(data_dir: str) -> picker.Catalog:
    return picker.Store(data_dir).catalog()


store = picker.Store()
try:
    catalog = load_catalog(store.lakehouse.root)
except LookupError as err:
    st.error(str(err))
    st.stop()

query = st.text_input("Search a movie by title", key="query", placeholder="toy story, amelie, matrix…")
matches = catalog.search(query)
if not query.strip():
    st.caption(f"{len(catalog.movies):,} movies; any part of the title, case and accents ignored.")
    st.stop()
if not matches:
    st.warning(f"No title contains every word of “{query}”: try fewer or shorter words.")
    st.stop()

movie = st.selectbox("Movie", matches, format_func=lambda m: f"{m.title} — {m.genres}", key="movie")
k = st.slider("How many similar movies", min_value=1, max_value=100, value=10, key="k")
answer = store.answer(movie.movie_id, k, catalog)

if answer is None:
    url = picker.dagster_url()
    st.info(f"No stored answer for {movie.title} with k={k}: Dagster can compute it ({picker.JOB} at {url}).")
    if st.button(f"Launch {picker.JOB}", key="launch", type="primary"):
        with st.status(f"{picker.JOB} for {movie.title}", expanded=True) as status:
            try:
                run_id = picker.launch(url, movie.movie_id, k)
            except RuntimeError as err:
                status.update(label="Could not launch the run", state="error")
                st.error(str(err))
                st.stop()
            st.write(f"Run `{run_id}` launched: {url}/runs/{run_id}")
            outcome = picker.wait(url, run_id, on_status=lambda s: status.update(label=f"Run {run_id[:8]}: {s}"))
            if outcome.status != "SUCCESS":
                status.update(label=f"Run {run_id[:8]}: {outcome.status}", state="error")
                st.error(outcome.message)
                st.stop()
            status.update(label=f"Run {run_id[:8]}: done", state="complete")
        answer = store.answer(movie.movie_id, k, catalog)

if answer is not None:
    st.subheader(f"Most like {movie.title}")
    similarity = st.column_config.NumberColumn(format="%.4f")
    st.dataframe(answer.rows, hide_index=True, column_config={S.SIMILARITY: similarity})
    st.caption(f"From the `{answer.source}` table (similarity of the ALS item factors; see the README).")
