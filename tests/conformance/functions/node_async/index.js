'use strict';

const { setTimeout: delay } = require('node:timers/promises');

exports.handler = async (event, context) => {
  await delay(10);
  return `async ${event.toString()} in ${context.function.name}`;
};
