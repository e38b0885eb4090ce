-- First start of the PostgreSQL container: one database per service.
CREATE DATABASE inventory;
CREATE DATABASE orders;
