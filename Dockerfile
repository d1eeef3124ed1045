FROM python:3.11-slim
WORKDIR /srv/villagelaw
COPY pyproject.toml README.md ./
COPY core core
COPY bot bot
COPY nlu nlu
COPY handlers handlers
COPY knowledge_base knowledge_base
COPY scheduling scheduling
COPY admin admin
COPY migrations migrations
RUN pip install --no-cache-dir . && python -m nlu train
EXPOSE 8000
CMD ["villagelaw", "serve", "--host", "0.0.0.0", "--port", "8000"]
